"""``hybridcore.toml``: the project file, its targets, and how names on the command line resolve.

The project root is the directory holding ``hybridcore.toml`` (searched upwards from the working
directory), else the working directory. Paths in the file are relative to it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridcore.errors import ConfigError, TemplateNotFound, UnknownTarget
from hybridcore.files import refuse_link
from hybridcore.packer.config_keys import SECTION_KEYS, TARGET_KEYS, TOP_LEVEL, did_you_mean, names

PROJECT_FILE = "hybridcore.toml"
_TARGET_KEYS = names(TARGET_KEYS)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# A name kept as its own folder name: no leading or trailing separator, no "..", no "~".
_PLAIN_SLUG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.))*(?<=[A-Za-z0-9])$")
_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A value this large is a mistake (a file pasted in), and it would travel through every record.
MAX_VALUE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    """One thing Packer can be pointed at: a declared target or an ad-hoc template path."""

    name: str
    template: Path
    only: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    var_files: tuple[Path, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    provisioners: tuple[Path, ...] = ()
    platform: str | None = None
    region: str | None = None
    smoke: bool = False
    timeout: float | None = None
    adhoc: bool = False
    workdir: Path | None = None   # where Packer runs; None: the project root
    secrets: Mapping[str, str] = field(default_factory=dict)  # variable name -> environment variable

    @property
    def slug(self) -> str:
        """This target's folder name under a command's run folder: at most 36 characters, and
        different for different names (run ids are ``<26-char command id>/<slug>`` and must fit 64).

        A name that is already a plain file name is its own slug. Any other name (``a_``, ``a.``,
        an ad-hoc template path, a long name) is made safe and given ``~`` and a hash of the name:
        ``~`` never occurs in a name kept as it is, so ``a``, ``a_`` and ``a.`` cannot share a folder.
        """
        if len(self.name) <= 36 and _PLAIN_SLUG_RE.match(self.name):
            return self.name
        import hashlib

        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name).strip("_.")[:27] or "target"
        return f"{safe}~{hashlib.sha1(self.name.encode(), usedforsecurity=False).hexdigest()[:8]}"


@dataclass(frozen=True, slots=True)
class Project:
    """``hybridcore.toml`` parsed: the project's root, targets and settings."""

    root: Path
    config_path: Path | None
    targets: Mapping[str, Target]
    packer_binary: str | None = None
    packer_version: str | None = None
    build_retries: int = 0
    build_timeout: float | None = None
    kill_grace: float = 60.0
    cache_dir: Path | None = None
    backoff_initial: float = 5.0     # seconds; exponential backoff with jitter between retries
    backoff_max: float = 120.0
    backoff_jitter: float = 1.0
    classify_rules: tuple[Mapping[str, Any], ...] = ()
    strict: bool = False          # [build] strict: refuse builds with inputs that cannot be hashed
    runs_keep: int | None = None  # [runs] keep: newest N commands' run folders kept
    log_max_mb: int = 256         # [build] log_max_mb: per log file of a run; the rest is dropped with a note
    raw: Mapping[str, Any] = field(default_factory=dict)

    def workdir_of(self, target: Target) -> Path:
        """The folder Packer runs in for ``target``."""
        return target.workdir or self.root

    @property
    def state_dir(self) -> Path:
        return self.root / ".hybridcore"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def own_folders(self) -> tuple[Path, ...]:
        """The folders only the wrapper writes in (the cache is not one: it may be a shared link)."""
        state = self.state_dir
        return (state, state / "runs", state / "logs", state / "parsed", state / "upgrade",
                self.artifacts_dir)

    @property
    def default_cache_dir(self) -> Path:
        return self.cache_dir or self.state_dir / "cache"

    def resolve(self, names: str | Sequence[str] | None, *, cwd: Path | None = None) -> list[Target]:
        """Turn names or paths into targets; no names means every declared target."""
        if names is None or (not isinstance(names, str) and len(names) == 0):
            if not self.targets:
                raise ConfigError(
                    "no targets given and none declared in hybridcore.toml",
                    hint="name a target or a template path, or declare [targets.NAME] in hybridcore.toml",
                )
            for target in self.targets.values():
                self.check_inputs(target)
            return list(self.targets.values())
        if isinstance(names, str):
            names = [names]
        out: list[Target] = []
        seen: set[str] = set()
        for name in names:
            target = self._resolve_one(str(name), cwd or Path.cwd())
            self.check_inputs(target)
            if target.name not in seen:
                seen.add(target.name)
                out.append(target)
        return out

    @staticmethod
    def check_inputs(target: Target) -> None:
        """Declared var files and provisioner assets exist, else the same exit-2 error ``--var-file``
        gets (checked for the targets a command selects, so one broken target does not block others)."""
        for what, paths in (("var file", target.var_files), ("provisioner", target.provisioners)):
            for path in paths:
                if not path.exists():
                    raise ConfigError(f"target {target.name!r}: {what} not found: {path}",
                                      hint=f"fix [targets.{target.name}] in {PROJECT_FILE} or create the file")

    def _resolve_one(self, name: str, cwd: Path) -> Target:
        if name in self.targets:
            return self.targets[name]
        path = Path(name)
        candidate = path if path.is_absolute() else cwd / path
        if candidate.exists():
            return adhoc_target(candidate.resolve(), self.root, workdir=cwd.resolve())
        looks_like_path = "/" in name or name.endswith((".hcl", ".json")) or name in {".", ".."}
        if looks_like_path:
            raise TemplateNotFound(f"template not found: {name} (looked at {candidate})")
        raise UnknownTarget(name, self.targets)


def adhoc_target(template: Path, root: Path, *, workdir: Path | None = None) -> Target:
    """A template path given on the command line; Packer runs in ``workdir`` (the caller's folder)."""
    try:
        name = template.relative_to(root).as_posix()
    except ValueError:
        name = template.as_posix()
    return Target(name=name if name != "." else template.name, template=template, adhoc=True,
                  workdir=workdir)


def find_root(start: Path | None = None) -> tuple[Path, Path | None]:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return folder, candidate
    return here, None


def load_project(start: Path | str | None = None) -> Project:
    """Load the project around ``start`` (a folder or a hybridcore.toml path; default: cwd)."""
    if start is None and os.environ.get("HYBRIDCORE_PROJECT"):
        start = os.environ["HYBRIDCORE_PROJECT"]
    start_path = Path(start) if start is not None else None
    cfg: Path | None
    if start_path is not None and start_path.is_file():
        root, cfg = start_path.resolve().parent, start_path.resolve()
    else:
        root, cfg = find_root(start_path)
    if cfg is None:
        project = Project(root=root, config_path=None, targets={})
    else:
        project = parse_project(cfg.read_bytes(), root=root, config_path=cfg)
    # Before any command writes: the wrapper's own folders must be real folders, never links that
    # would carry its records (and a chmod 0700) somewhere else.
    for folder in project.own_folders:
        refuse_link(folder)
    return project


def parse_project(data: bytes, *, root: Path, config_path: Path) -> Project:
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{config_path}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already says "(at line L, column C)".
        raise ConfigError(f"{config_path}: TOML syntax error: {exc}") from None

    where = str(config_path)
    _check_values(raw, where, "")
    for key in raw:
        if key not in TOP_LEVEL:
            # A typo such as [buidl] would otherwise be ignored silently.
            raise ConfigError(f"{where}: unknown {'section' if isinstance(raw[key], dict) else 'key'} "
                              f"{key!r}", hint=did_you_mean(key, TOP_LEVEL))
    packer = _table(raw, "packer", where)
    build = _table(raw, "build", where)
    cache = _table(raw, "cache", where)
    classify = _table(raw, "classify", where)
    runs = _table(raw, "runs", where)
    targets_raw = _table(raw, "targets", where)
    for section, keys in SECTION_KEYS.items():
        allowed = names(keys)
        for key in _table(raw, section, where):
            if key not in allowed:
                raise ConfigError(f"{where}: [{section}] has unknown key {key!r}",
                                  hint=did_you_mean(key, allowed))
    shared_secrets = _secrets(raw.get("secrets", {}), where, "secrets")

    targets: dict[str, Target] = {}
    for name, spec in targets_raw.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: [targets.{name}] must be a table")
        targets[name] = _parse_target(name, spec, root, where, shared_secrets)
    strict = build.get("strict", False)
    if not isinstance(strict, bool):
        raise ConfigError(f"{where}: [build] strict must be true or false")
    keep = runs.get("keep")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ConfigError(f"{where}: [runs] keep must be a positive integer (commands to keep)")

    rules = classify.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ConfigError(f"{where}: [[classify.rules]] must be an array of tables")
    cache_dir = cache.get("dir")
    return Project(
        root=root,
        config_path=config_path,
        targets=targets,
        packer_binary=_opt_str(packer, "binary", where, "packer"),
        packer_version=_opt_str(packer, "version", where, "packer"),
        build_retries=_int(build, "retries", 0, where),
        build_timeout=_opt_float(build, "timeout", where, "build"),
        kill_grace=_opt_float(build, "kill_grace", where, "build") or 60.0,
        backoff_initial=_non_negative(build, "backoff_initial", 5.0, where),
        backoff_max=_non_negative(build, "backoff_max", 120.0, where),
        backoff_jitter=_non_negative(build, "backoff_jitter", 1.0, where),
        cache_dir=(root / cache_dir) if isinstance(cache_dir, str) else None,
        classify_rules=tuple(rules),
        strict=strict,
        runs_keep=keep,
        log_max_mb=_int(build, "log_max_mb", 256, where) or 256,
        raw=raw,
    )


def _parse_target(name: str, spec: Mapping[str, Any], root: Path, where: str,
                  shared_secrets: Mapping[str, str]) -> Target:
    if not _NAME_RE.match(name):
        raise ConfigError(f"{where}: target name {name!r} may hold only letters, digits, '_', '-', '.'")
    for key in spec:
        if key not in _TARGET_KEYS:
            raise ConfigError(f"{where}: [targets.{name}] has unknown key {key!r}",
                              hint=did_you_mean(key, _TARGET_KEYS))
    ctx = f"targets.{name}"
    template = spec.get("template")
    if not isinstance(template, str) or not template:
        raise ConfigError(f"{where}: [{ctx}] needs template = \"path\"")
    tpath = (root / template).resolve()
    if not tpath.exists():
        raise TemplateNotFound(f"target {name!r}: template not found: {tpath}")
    vars_ = spec.get("vars", {})
    if not isinstance(vars_, dict):
        raise ConfigError(f"{where}: [{ctx}] vars must be a table")
    workdir = _opt_str(spec, "workdir", where, ctx)
    wpath = None
    if workdir is not None:
        wpath = (root / workdir).resolve()
        if not wpath.is_dir():
            raise ConfigError(f"{where}: [{ctx}] workdir is not a folder: {wpath}",
                              hint="workdir is relative to hybridcore.toml")
    secrets = {**shared_secrets, **_secrets(spec.get("secrets", {}), where, f"{ctx}.secrets")}
    clash = sorted(set(secrets) & set(vars_))
    if clash:
        raise ConfigError(f"{where}: [{ctx}] {', '.join(clash)} given both in vars and secrets",
                          hint="keep a secret only in secrets = { NAME = \"ENV_VAR\" }")
    return Target(
        workdir=wpath,
        secrets=secrets,
        name=name,
        template=tpath,
        only=_strs(spec, "only", where, ctx),
        except_=_strs(spec, "except", where, ctx),
        var_files=tuple((root / p).resolve() for p in _strs(spec, "var_files", where, ctx)),
        vars=dict(vars_),
        provisioners=tuple((root / p).resolve() for p in _strs(spec, "provisioners", where, ctx)),
        platform=_opt_str(spec, "platform", where, ctx),
        region=_opt_str(spec, "region", where, ctx),
        smoke=bool(spec.get("smoke", False)),
        timeout=_opt_float(spec, "timeout", where, ctx),
    )


def _secrets(value: Any, where: str, ctx: str) -> dict[str, str]:
    """``{ NAME = "ENV_VAR" }``: the value of variable NAME is read from the environment at run time."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{ctx}] must be a table of NAME = \"ENV_VAR\"")
    out: dict[str, str] = {}
    for name, env in value.items():
        if not _VAR_RE.match(name) or not isinstance(env, str) or not _ENV_RE.match(env):
            raise ConfigError(f"{where}: [{ctx}] {name!r} must name an environment variable, e.g. "
                              f"{name} = \"MY_{name.upper()}\"",
                              hint="the secret's value is read from that variable, never written in the file")
        out[name] = env
    return out


def _check_values(value: Any, where: str, path: str) -> None:
    """No NUL byte and no oversized string anywhere in the file: both are mistakes that would otherwise
    surface as a traceback deep in the wrapper or as megabytes in every record."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_values(k, where, path)
            _check_values(v, where, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for v in value:
            _check_values(v, where, path)
    elif isinstance(value, str):
        if "\x00" in value:
            raise ConfigError(f"{where}: {path or 'a key'} holds a NUL byte")
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise ConfigError(f"{where}: {path} is {len(value.encode())} bytes (limit {MAX_VALUE_BYTES})",
                              hint="put large content in a file the template reads")


def _table(raw: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _strs(spec: Mapping[str, Any], key: str, where: str, ctx: str) -> tuple[str, ...]:
    value = spec.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: [{ctx}] {key} must be a list of strings")
    return tuple(value)


def _opt_str(spec: Mapping[str, Any], key: str, where: str, ctx: str) -> str | None:
    value = spec.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: [{ctx}] {key} must be a string")
    return value


def _opt_float(spec: Mapping[str, Any], key: str, where: str, ctx: str) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: [{ctx}] {key} must be a positive number of seconds")
    return float(value)


def _non_negative(spec: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: [build] {key} must be a non-negative number of seconds")
    return float(value)


def _int(spec: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {key} must be a non-negative integer")
    return value
