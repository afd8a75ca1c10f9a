"""The public wrappers: ``fmt``, ``validate``, ``build`` and ``drift``.

Each one reads the same way: resolve the project, its targets and Packer; plan every target (argv,
variables, secrets; bad input raises here, before anything runs); hand the plans to the runner, which
runs Packer and returns the recorded ``CommandResult``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.errors import HybridcoreError, TemplateError
from hybridcore.packer import argv as argmod
from hybridcore.packer import binary as binmod
from hybridcore.packer import driftcheck, preflight
from hybridcore.packer.config import Project, Target, load_project
from hybridcore.packer.plan import env_name, plan_target
from hybridcore.state import StateStore

if TYPE_CHECKING:
    from hybridcore.packer.records import CommandResult
    from hybridcore.packer.session import Observer, RunOptions


def fmt(targets: str | Sequence[str] | None, *, check: bool = False, recursive: bool = True,
        diff: bool = False, project: Project | str | Path | None = None,
        observer: Observer | None = None) -> CommandResult:
    """``packer fmt`` over each target's templates. ``check=True`` reports (exit 3) instead of writing."""
    proj, packer, chosen = _resolve(project, targets)
    # `packer fmt` formats HCL2 only: a JSON template (legacy or .pkr.json) is skipped with a warning,
    # so `fmt --check` over a project that still has JSON targets checks the rest instead of failing.
    skipped = [t for t in chosen if not _has_hcl2(t.template, recursive)]
    formattable = [t for t in chosen if t not in skipped]
    if not formattable:
        names = ", ".join(t.name for t in skipped)
        raise TemplateError(f"nothing to format: {names} {'uses' if len(skipped) == 1 else 'use'} a JSON "
                            f"template, and packer fmt formats HCL2 (.pkr.hcl) only",
                            hint="`packer hcl2_upgrade` (Packer 1.7+) converts a legacy JSON template to HCL2")
    plans = [plan_target("fmt", proj, t, packer, fmt_check=check, fmt_diff=diff, fmt_recursive=recursive)
             for t in formattable]
    if skipped:
        note = (f"not formatted: {', '.join(t.name for t in skipped)} (JSON template; packer fmt formats "
                f"HCL2 only)")
        plans[0] = dataclasses.replace(plans[0], warnings=(*plans[0].warnings, note))
    return _execute("fmt", proj, packer, plans, observer=observer)


def _has_hcl2(template: Path, recursive: bool) -> bool:
    """Whether ``packer fmt`` has anything to format in ``template`` (a file, or a folder of files)."""
    if not template.is_dir():
        return template.name.endswith(argmod.HCL2_SUFFIXES)
    if argmod.has_hcl(template) or (recursive and argmod.hcl_folders(template)):
        return True
    # A folder of only JSON templates is skipped like a JSON file; a folder with nothing at all is
    # still handed to the planner, whose "no HCL2 files" error names it.
    return not any(template.rglob("*.json") if recursive else template.glob("*.json"))


def validate(targets: str | Sequence[str] | None, vars: Mapping[str, Any] | None = None, *,
             var_files: Sequence[str | Path] | None = None,
             provisioners: Sequence[str | Path] | None = None,
             project: Project | str | Path | None = None,
             observer: Observer | None = None, timeout: float | None = None) -> CommandResult:
    """``packer validate``; on success the target's current inputs become trusted for ``build``.
    ``timeout``: seconds per Packer run (then stopped; exit 75)."""
    proj, packer, chosen = _resolve(project, targets)
    plans = [plan_target("validate", proj, t, packer, vars_=vars, var_files=var_files or (),
                         provisioners=provisioners or ()) for t in chosen]
    return _execute("validate", proj, packer, plans, observer=observer,
                          options=_options(timeout=timeout))


def build(targets: str | Sequence[str] | None, vars: Mapping[str, Any] | None = None,
          provisioners: Sequence[str | Path] | None = None, *,
          var_files: Sequence[str | Path] | None = None, force: bool = False, parallel: int | None = None,
          use_cache: bool = True, cache_dir: str | Path | None = None, retries: int | None = None,
          fail_fast: bool = False, timeout: float | None = None,
          project: Project | str | Path | None = None,
          observer: Observer | None = None, lock_timeout: float | None = None,
          on_error: str | None = None) -> CommandResult:
    """``packer build -machine-readable``, refused with :class:`DriftDetected` unless every target's
    inputs match what was last trusted (by ``validate`` or a successful build).

    ``lock_timeout``: seconds to wait while another build of the same (target, env) holds its lock
    (default 0); then that target fails with category ``locked`` (exit 75). ``on_error``: Packer's
    ``-on-error`` (cleanup, abort, run-cleanup-provisioner; ``ask`` needs a terminal Packer does not get)."""
    proj, packer, chosen = _resolve(project, targets)
    plans = [plan_target("build", proj, t, packer, vars_=vars, var_files=var_files or (),
                         provisioners=provisioners or (), force=force, on_error=on_error) for t in chosen]
    retries = proj.build_retries if retries is None else retries
    if retries < 0 or (parallel is not None and parallel < 1) or (lock_timeout or 0) < 0:
        raise HybridcoreError("retries and lock_timeout must be >= 0 and parallel >= 1")
    options = _options(parallel=parallel, retries=retries, fail_fast=fail_fast, timeout=timeout,
                       lock_timeout=lock_timeout or 0.0,
                       use_cache=use_cache, cache_dir=Path(cache_dir).resolve() if cache_dir is not None else None)
    return _execute("build", proj, packer, plans, options=options, observer=observer)


def drift(targets: str | Sequence[str] | None, vars: Mapping[str, Any] | None = None, *,
          var_files: Sequence[str | Path] | None = None, provisioners: Sequence[str | Path] | None = None,
          project: Project | str | Path | None = None) -> list[driftcheck.DriftReport]:
    """Compare each target's inputs with its trusted record without running Packer."""
    proj, packer, chosen = _resolve(project, targets)
    plans = [plan_target("build", proj, t, packer, vars_=vars, var_files=var_files or (),
                         provisioners=provisioners or (), refuse_computed=False) for t in chosen]
    env = env_name()
    store = StateStore.for_root(proj.root)
    try:
        current = driftcheck.fingerprints_of(proj, packer, plans, env)
        if not store.exists():  # read-only: never create a state; nothing is trusted yet
            from hybridcore.packer.fingerprint import diff

            return [driftcheck.Comparison(p, f, None, diff(None, f)).report(env)
                    for p, f in zip(plans, current, strict=True)]
        return [c.report(env) for c in driftcheck.compare(store, plans, current, env)]
    finally:
        store.close()


def _options(**given: Any) -> RunOptions:
    from hybridcore.packer.session import RunOptions  # with the runner: drift needs neither

    return RunOptions(**given)


def _execute(*args: Any, **kwargs: Any) -> CommandResult:
    from hybridcore.packer import runner  # loaded here: drift never runs Packer and never needs it

    return runner.execute(*args, **kwargs)


def _resolve(project: Project | str | Path | None, targets: str | Sequence[str] | None,
             ) -> tuple[Project, binmod.PackerBinary, list[Target]]:
    proj = project if isinstance(project, Project) else load_project(project)
    chosen = proj.resolve(targets)
    preflight.check_templates(t.template for t in chosen)  # before any parser or Packer reads them
    packer = binmod.discover(proj.packer_binary, proj.packer_version,
                             cache=proj.state_dir / "parsed" / "packer-version.json")
    return proj, packer, chosen
