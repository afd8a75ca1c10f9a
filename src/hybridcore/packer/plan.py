"""Planning: everything about a target decided *before* Packer runs, so bad input fails early.

A plan holds the resolved target, the template analysis, the exact argv, the prepared environment,
the redactor and the fingerprint inputs. Building one touches no Packer process and writes nothing.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from hybridcore.errors import ConfigError, MalformedVar, TemplateError, TemplateNotFound
from hybridcore.packer import argv as argmod
from hybridcore.packer.binary import PackerBinary, template_requires
from hybridcore.packer.config import Project, Target
from hybridcore.packer.secrets import Redactor, Secret, SplitVars, secret_values, split_vars
from hybridcore.packer.template_eval import resolve
from hybridcore.packer.templates import TemplateInfo, analyze, load_summary, unparsed

Kind = Literal["fmt", "validate", "build"]
# Variables the wrapper injects when a template declares them; excluded from fingerprints because they
# describe the run, not the image.
INJECTED = ("hybridcore_provisioners", "hybridcore_env")
_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True, slots=True)
class TargetPlan:
    kind: Kind
    target: Target
    info: TemplateInfo | None           # None for fmt, which does not need to parse
    argvs: tuple[tuple[str, ...], ...]  # usually one; fmt on Packer < 1.7 may need one per folder
    split: SplitVars
    redactor: Redactor
    var_files: tuple[Path, ...]
    provisioners: tuple[Path, ...]       # explicit (argument + config), absolute
    warnings: tuple[str, ...] = ()
    secret_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def argv(self) -> tuple[str, ...]:
        """The main command (after ``packer init``, when that runs first)."""
        return self.argvs[-1]

    @property
    def command_line(self) -> str:
        return " && ".join(shlex.join(a) for a in self.argvs)

    @property
    def cwd(self) -> Path:
        if self.info is not None:
            return self.info.workdir
        t = self.target.template
        return t if t.is_dir() else t.parent

    def fingerprint_vars(self) -> dict[str, str]:
        return {k: v for k, v in self.split.plain.items() if k not in INJECTED}


def env_name() -> str:
    name = os.environ.get("HYBRIDCORE_ENV", "dev") or "dev"
    if not _ENV_NAME.match(name):
        raise ConfigError(f"HYBRIDCORE_ENV={name!r} is not a valid environment name",
                          hint="use letters, digits, '_', '-', '.' (e.g. dev, staging, prod)")
    return name


def _existing(paths: Sequence[Path | str], what: str, base: Path) -> tuple[Path, ...]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        path = (path if path.is_absolute() else base / path).resolve()
        if not path.exists():
            raise TemplateNotFound(f"{what} not found: {path}",
                                   hint=f"check the {what} path (relative paths are relative to {base})")
        out.append(path)
    return tuple(out)


def _check_resolution(kind: Kind, project: Project, target: Target, info: TemplateInfo, *,
                      refuse_computed: bool) -> list[str]:
    """Refuse what Packer would do wrong or silently (exit 2); name what cannot be hashed."""
    resolved = info.resolved
    assert resolved is not None
    origin = resolved.var_origins.get("hybridcore_provisioners") or _reserved_beside(info, project)
    if origin is not None:
        raise ConfigError(f"target {target.name!r}: {origin} sets hybridcore_provisioners, which is reserved",
                          hint="hybridcore sets it from the declared provisioners; remove it from the var file")
    if resolved.unmatched_only:
        names = sorted(resolved.builds)
        raise ConfigError(
            f"target {target.name!r}: only {', '.join(resolved.unmatched_only)} matches no build of "
            f"{target.template.name}; its builds: {', '.join(names) or '(none)'}",
            hint="use Packer's build names (type.name, or build-name.type.name for a named build; globs "
                 "like 'ubuntu.*' are allowed)")
    if not resolved.unresolved:
        return []
    listed = "; ".join(resolved.unresolved)
    if kind == "build" and project.strict and refuse_computed:
        raise ConfigError(f"target {target.name!r}: [build] strict = true and these inputs cannot be hashed "
                          f"(computed paths): {listed}",
                          hint="make the paths literal (or resolvable from variables and locals), or set "
                               "[build] strict = false to build with them unhashed")
    return [f"{target.name}: inputs not hashed (computed paths): {listed}"]


def _reserved_beside(info: TemplateInfo, project: Project) -> str | None:
    """An auto var file beside a single-file template that sets hybridcore_provisioners. Packer 1.6.6
    loads auto var files only for a folder, so it would be ignored; it is refused all the same: such a
    file can only mean to set the list the wrapper owns."""
    if info.path.is_dir():
        return None
    for path in sorted(info.template_dir.iterdir()):
        if path.is_file() and path.name.endswith((".auto.pkrvars.hcl", ".auto.pkrvars.json")):
            try:
                doc = load_summary(path, "vars", project.state_dir / "parsed")
            except TemplateError:
                continue
            if "hybridcore_provisioners" in (doc.get("assignments") or {}):
                return str(path)
    return None


def merge_vars(target: Target, vars_: Mapping[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, Any] = dict(target.vars)
    for name, value in (vars_ or {}).items():
        if not isinstance(name, str) or not name:
            raise MalformedVar(f"malformed variable name {name!r}")
        merged[name] = value
    return merged


def plan_target(
    kind: Kind,
    project: Project,
    target: Target,
    packer: PackerBinary,
    *,
    vars_: Mapping[str, Any] | None = None,
    var_files: Sequence[Path | str] = (),
    provisioners: Sequence[Path | str] = (),
    base_env: Mapping[str, str] | None = None,
    force: bool = False,
    fmt_check: bool = False,
    fmt_diff: bool = False,
    fmt_recursive: bool = True,
    cwd: Path | None = None,
    refuse_computed: bool = True,
) -> TargetPlan:
    base_env = os.environ if base_env is None else base_env
    here = cwd or Path.cwd()
    if not target.template.exists():
        raise TemplateNotFound(f"target {target.name!r}: template not found: {target.template}")
    if kind == "fmt":
        fmt_lines = argmod.fmt_argvs(packer.path, target.template, check=fmt_check, diff=fmt_diff,
                                     recursive=fmt_recursive, native_recursive=packer.has_fmt_recursive)
        if not fmt_lines:
            raise TemplateNotFound(f"target {target.name!r}: no HCL2 files to format under {target.template}")
        return TargetPlan(kind, target, None, tuple(tuple(a) for a in fmt_lines), SplitVars({}, {}),
                          Redactor(secret_values(SplitVars({}, {}), base_env)), (), ())

    workdir = project.workdir_of(target)
    try:
        info = analyze(target.template, cache_dir=project.state_dir / "parsed", workdir=workdir)
    except TemplateError:
        # Packer decides: its diagnostics (words and positions) are what validate shows, and what it
        # accepts builds. Without variable metadata only explicit secrets are known to be secret,
        # and nothing the template names can be hashed (named below; strict refuses).
        info = unparsed(target.template, workdir=workdir)
        parse_warning: str | None = (f"{target.name}: hybridcore could not parse the template; Packer's own "
                                     "diagnostics are authoritative")
    else:
        parse_warning = None
    template_requires(packer.version, info.required_version, target.template)
    files = target.var_files + _existing(var_files, "var file", here)
    explicit = target.provisioners + _existing(provisioners, "provisioner asset", here)
    values = merge_vars(target, vars_)
    warnings: list[str] = [parse_warning] if parse_warning else []
    if "hybridcore_provisioners" in values:
        raise MalformedVar("hybridcore_provisioners is reserved: hybridcore sets it from the declared "
                           "provisioners", hint="list the assets under provisioners (or --provisioner) instead")
    if "hybridcore_provisioners" in info.variables:
        values["hybridcore_provisioners"] = [str(p) for p in explicit]
    elif explicit and info.parsed:
        warnings.append(f"{target.name}: provisioners are hashed for drift but Packer never runs them: the "
                        "template does not declare variable \"hybridcore_provisioners\"")
    if "hybridcore_env" in info.variables:
        values.setdefault("hybridcore_env", env_name())
    sensitive = info.sensitive_names()
    if info.kind == "json":
        # Legacy JSON templates read variables only from -var (argv) or {{env}} defaults, never from
        # PKR_VAR_: a secret value could reach them only on the command line, which is refused.
        bad = sorted(n for n, v in values.items() if isinstance(v, Secret) or n in sensitive)
        if bad:
            raise TemplateError(
                f"{target.template}: secret variables {bad} need an HCL2 template",
                hint="legacy JSON templates take variables only on the command line; migrate with "
                     "'packer hcl2_upgrade' or read the secret with {{env `NAME`}} in the variable default",
            )
    split = split_vars(values, sensitive)
    env_defaults = [v.env_default for v in info.variables.values() if v.sensitive and v.env_default]
    env_defaults += [f"PKR_VAR_{n}" for n in sensitive]
    redactor = Redactor(secret_values(split, base_env, env_defaults))
    for var in info.variables.values():
        if var.sensitive and var.has_literal_default:
            warnings.append(
                f"{target.name}: sensitive variable {var.name!r} has a literal default; read it with "
                f"env(\"...\") or pass it at run time so the secret is not committed"
            )
    for name in sorted(values):
        if name in target.vars and name in sensitive:
            warnings.append(f"{target.name}: sensitive variable {name!r} is set in hybridcore.toml; "
                            "prefer the environment (PKR_VAR_" + name + ")")
    resolved = resolve(info, var_files=files, values=split.plain, hidden=sensitive | set(split.secret),
                       env=base_env, only=target.only, except_=target.except_, packer_version=packer.version,
                       root=project.root, cache_dir=project.state_dir / "parsed")
    info = replace(info, resolved=resolved, manifest_outputs=resolved.manifest_outputs or info.manifest_outputs)
    warnings += _check_resolution(kind, project, target, info, refuse_computed=refuse_computed)
    common: dict[str, Any] = {"plain_vars": split.plain, "var_files": files, "only": target.only,
                              "except_": target.except_}
    template = Path(info.argument)  # as typed in workdir: path.root and relative paths resolve as by hand
    if kind == "validate":
        argv = argmod.validate_argv(packer.path, template, **common)
    else:
        argv = argmod.build_argv(packer.path, template, force=force, **common)
    argvs: tuple[tuple[str, ...], ...] = (tuple(argv),)
    if info.required_plugins:
        if packer.has_init:
            # Plugins first, from the template's own required_plugins; the main command runs only if
            # `packer init` succeeds.
            argvs = (tuple(argmod.init_argv(packer.path, template)), *argvs)
        else:
            warnings.append(f"{target.name}: the template declares required_plugins, which Packer "
                            f"{packer.version} does not support (packer init arrived in 1.7.0)")
    return TargetPlan(kind, target, info, argvs, split, redactor, files, explicit,
                      tuple(warnings), frozenset(sensitive | set(split.secret)))
