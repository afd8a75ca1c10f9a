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

from hybridcore.errors import ConfigError, TemplateError, TemplateNotFound
from hybridcore.packer import argv as argmod
from hybridcore.packer.binary import PackerBinary, template_requires
from hybridcore.packer.config import Project, Target
from hybridcore.packer.planvars import INJECTED, RESERVED, plan_vars
from hybridcore.packer.secrets import Redactor, SplitVars, env_redactor
from hybridcore.packer.template_eval import resolve
from hybridcore.packer.templates import TemplateInfo, analyze, load_summary, unparsed
from hybridcore.packer.varfile import PLACEHOLDER_DIR, GeneratedVarFile, var_file_path

Kind = Literal["fmt", "validate", "build"]
_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True, slots=True)
class TargetPlan:
    """Everything decided before one target runs: argv, variables, redactor, warnings."""

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
    var_file: GeneratedVarFile | None = None  # every given value; written per attempt (varfile.py)

    @property
    def argv(self) -> tuple[str, ...]:
        """The main command (after ``packer init``, when that runs first). The generated var file
        shows as ``$TMPDIR/<name>``: it exists only in a running attempt's temp folder."""
        return self.argvs[-1]

    def argvs_for(self, var_file: Path | None) -> tuple[tuple[str, ...], ...]:
        """The argvs to run, with the generated var file at ``var_file`` (where the attempt wrote it)."""
        if self.var_file is None or var_file is None:
            return self.argvs
        shown = f"-var-file={var_file_path(PLACEHOLDER_DIR, self.var_file)}"
        return tuple(tuple(f"-var-file={var_file}" if a == shown else a for a in argv) for argv in self.argvs)

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
        """Every given value, secret ones included: ``fingerprint.compute`` keeps only a digest of
        each (DESIGN: "var values (secret ones by digest only)"), so a rotated secret is drift."""
        given = {**self.split.plain, **self.split.secret}
        return {k: v for k, v in given.items() if k not in INJECTED}


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
    origin = resolved.var_origins.get(RESERVED) or _reserved_beside(info, project)
    if origin is not None:
        raise ConfigError(f"target {target.name!r}: {origin} sets {RESERVED}, which is reserved",
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
            if RESERVED in (doc.get("assignments") or {}):
                return str(path)
    return None


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
    on_error: str | None = None,
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
                          env_redactor(base_env), (), ())

    workdir = project.workdir_of(target)
    try:
        info = analyze(target.template, cache_dir=project.state_dir / "parsed", workdir=workdir)
    except TemplateError:
        if kind != "validate" and project.strict and refuse_computed:
            raise TemplateError(f"target {target.name!r}: hybridcore cannot parse {target.template}; [build] "
                                "strict = true refuses a build whose inputs cannot all be hashed",
                                hint="fix the template so it can be read, or drop strict") from None
        # Packer decides: its diagnostics (words and positions) are what validate shows, and it builds
        # what it can read (a UTF-8 BOM); without variable metadata every value given is redacted
        # (planvars: fail closed) and nothing the template names is hashed (named below).
        info = unparsed(target.template, workdir=workdir)
        parse_warning: str | None = f"{target.name}: hybridcore could not parse the template" + (
            "; Packer's own diagnostics are authoritative" if kind == "validate"
            else "; the files its provisioners and sources read are not hashed for drift")
    else:
        parse_warning = None
    template_requires(packer.version, info.required_version, target.template)
    files = target.var_files + _existing(var_files, "var file", here)
    explicit = target.provisioners + _existing(provisioners, "provisioner asset", here)
    pv = plan_vars(target, info, parsed=parse_warning is None, given=vars_, var_files=files,
                   provisioners=explicit, base_env=base_env, hybridcore_env=env_name())
    warnings: list[str] = [pv.redactor(parse_warning)] if parse_warning else []
    warnings += pv.warnings
    if explicit and info.parsed and RESERVED not in info.variables:
        warnings.append(f"{target.name}: provisioners are hashed for drift but Packer never runs them: the "
                        f"template does not declare variable \"{RESERVED}\"")
    resolved = resolve(info, var_files=files, values=pv.split.plain, hidden=pv.secret_names, env=base_env,
                       only=target.only, except_=target.except_, packer_version=packer.version,
                       root=project.root, cache_dir=project.state_dir / "parsed")
    info = replace(info, resolved=resolved, manifest_outputs=resolved.manifest_outputs or info.manifest_outputs)
    warnings += _check_resolution(kind, project, target, info, refuse_computed=refuse_computed)
    generated = var_file_path(PLACEHOLDER_DIR, pv.var_file) if pv.var_file else None
    common: dict[str, Any] = {"var_files": files, "generated_var_file": generated, "only": target.only,
                              "except_": target.except_}
    template = Path(info.argument)  # as typed in workdir: path.root and relative paths resolve as by hand
    if kind == "validate":
        argv = argmod.validate_argv(packer.path, template, **common)
    else:
        argv = argmod.build_argv(packer.path, template, force=force, on_error=on_error, **common)
    argvs: tuple[tuple[str, ...], ...] = (tuple(argv),)
    if info.required_plugins:
        if packer.has_init:
            # Plugins first, from the template's own required_plugins; the main command runs only if
            # `packer init` succeeds.
            argvs = (tuple(argmod.init_argv(packer.path, template)), *argvs)
        else:
            warnings.append(f"{target.name}: the template declares required_plugins, which Packer "
                            f"{packer.version} does not support (packer init arrived in 1.7.0)")
    return TargetPlan(kind, target, info, argvs, pv.split, pv.redactor, files, explicit,
                      tuple(warnings), pv.secret_names, pv.var_file)
