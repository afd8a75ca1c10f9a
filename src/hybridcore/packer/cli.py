"""``hybridcore-packer``: the command line (Typer): parse arguments, call the API, hand the outcome to
``console`` and exit with its code.

Exit codes are ``hybridcore.errors.ExitCode`` (DESIGN.md): 0 ok · 1 hard-stop failure · 2 usage/bad
input · 3 ``fmt --check`` found unformatted files · 4 drift · 75 retryable failure (retries
exhausted) · 130 interrupted. A result's ``exit_code`` already is one of them.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from hybridcore import __version__
from hybridcore.errors import ExitCode, HybridcoreError
from hybridcore.packer.console import report

if TYPE_CHECKING:
    from hybridcore.packer.records import CommandResult
    from hybridcore.packer.session import Observer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Safe, observable HashiCorp Packer builds.")
runs_app = typer.Typer(help="Commands recorded in hybridcore.state.", invoke_without_command=True)
artifacts_app = typer.Typer(help="Artifact records (artifacts/<build_id>.json).", invoke_without_command=True)
cache_app = typer.Typer(help="The shared download cache.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(cache_app, name="cache")



@dataclass(frozen=True, slots=True)
class GlobalOptions:
    """Options given before the command name (``hybridcore-packer -C DIR build ...``)."""

    project: Path | None = None


def _project(ctx: typer.Context) -> Path | None:
    options = ctx.find_object(GlobalOptions)
    return options.project if options is not None else None


TargetsArg = Annotated[list[str] | None, typer.Argument(help="targets from hybridcore.toml or template paths",
                                                        show_default=False)]
VarOpt = Annotated[list[str] | None, typer.Option("--var", help="NAME=VALUE (repeatable)", show_default=False)]
VarFileOpt = Annotated[list[Path] | None, typer.Option("--var-file", help="a .pkrvars.hcl/.json file (repeatable)",
                                                       show_default=False)]
ProvOpt = Annotated[list[Path] | None, typer.Option("--provisioner", help="a provisioner asset to hash and pass "
                                                    "(repeatable)", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the response object as JSON only")]


def _version(value: bool) -> None:
    if value:
        report.plain(f"hybridcore-packer {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
    project: Annotated[Path | None, typer.Option("--project", "-C", help="project folder or hybridcore.toml "
                                                 "(default: search upwards from the current folder)")] = None,
) -> None:
    ctx.obj = GlobalOptions(project)


def _parse_vars(items: list[str] | None) -> dict[str, str]:
    from hybridcore.packer.secrets import parse_var_assignment

    return dict(parse_var_assignment(item) for item in items or [])


def _observer(json_mode: bool, multi: bool) -> Observer | None:
    if json_mode:
        return None
    from hybridcore.packer.console.stream import line_printer

    return line_printer(multi)


def _fail(exc: HybridcoreError, json_mode: bool) -> NoReturn:
    report.error(exc, json_mode)
    raise typer.Exit(exc.exit_code)


def _run(json_mode: bool, fn: Callable[[], CommandResult]) -> NoReturn:
    try:
        result = fn()
    except HybridcoreError as exc:
        _fail(exc, json_mode)
    report.command_result(result, json_mode)
    raise typer.Exit(result.exit_code)


@app.command("fmt")
def fmt_cmd(ctx: typer.Context, targets: TargetsArg = None,
            check: Annotated[bool, typer.Option("--check", help="exit 3 if files need formatting")] = False,
            diff: Annotated[bool, typer.Option("--diff", help="show the changes")] = False,
            recursive: Annotated[bool, typer.Option("--recursive/--no-recursive")] = True,
            var: VarOpt = None, var_file: VarFileOpt = None, json_mode: JsonOpt = False) -> None:
    """Format (or with --check, check) the targets' HCL2 templates.

    --var/--var-file are accepted so every command takes the same line; formatting ignores them."""
    from hybridcore.packer import api

    try:
        _parse_vars(var)  # still reject a malformed --var: the same line must fail the same way
    except HybridcoreError as exc:
        _fail(exc, json_mode)

    _run(json_mode, lambda: api.fmt(targets or None, check=check, diff=diff, recursive=recursive,
                                    project=_project(ctx), observer=_observer(json_mode, False)))


@app.command("validate")
def validate_cmd(ctx: typer.Context, targets: TargetsArg = None, var: VarOpt = None, var_file: VarFileOpt = None,
                 provisioner: ProvOpt = None, json_mode: JsonOpt = False) -> None:
    """Validate the targets; success makes their current inputs trusted for build."""
    from hybridcore.packer import api

    def go() -> CommandResult:
        return api.validate(targets or None, _parse_vars(var), var_files=var_file, provisioners=provisioner,
                            project=_project(ctx), observer=_observer(json_mode, len(targets or []) != 1))

    _run(json_mode, go)


@app.command("build")
def build_cmd(
    ctx: typer.Context,
    targets: TargetsArg = None, var: VarOpt = None, var_file: VarFileOpt = None, provisioner: ProvOpt = None,
    force: Annotated[bool, typer.Option("--force", help="packer -force: replace existing artifacts")] = False,
    parallel: Annotated[int | None, typer.Option("--parallel", min=1, help="targets built at once")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="a fresh private download cache")] = False,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="shared download cache folder")] = None,
    retries: Annotated[int | None, typer.Option("--retries", min=0, help="re-runs of retryable failures")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="interrupt other targets on failure")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.001, help="seconds per Packer run")] = None,
    json_mode: JsonOpt = False,
) -> None:
    """Build the targets (refused with exit 4 when inputs drifted since validate)."""
    from hybridcore.packer import api

    def call(observer: Observer | None) -> CommandResult:
        return api.build(targets or None, _parse_vars(var), provisioner, var_files=var_file, force=force,
                         parallel=parallel, use_cache=not no_cache, cache_dir=cache_dir, retries=retries,
                         fail_fast=fail_fast, timeout=timeout, project=_project(ctx), observer=observer)

    def go() -> CommandResult:
        from hybridcore.packer.console.terminal import console

        out = console()
        live = not json_mode and out.is_terminal and (parallel or 0) > 1 and len(targets or []) != 1
        if not live:
            return call(_observer(json_mode, len(targets or []) != 1))
        from hybridcore.packer.config import load_project
        from hybridcore.packer.console.live import LiveView

        names = [t.name for t in load_project(_project(ctx)).resolve(targets or None)]
        with LiveView(out, names) as view:
            return call(view)

    _run(json_mode, go)


@app.command("drift")
def drift_cmd(ctx: typer.Context, targets: TargetsArg = None, var: VarOpt = None, var_file: VarFileOpt = None,
              provisioner: ProvOpt = None, json_mode: JsonOpt = False) -> None:
    """Show what changed since each target was last trusted (exit 4 if anything did). Runs no Packer."""
    from hybridcore.packer import api

    try:
        reports = api.drift(targets or None, _parse_vars(var), var_files=var_file, provisioners=provisioner,
                            project=_project(ctx))
    except HybridcoreError as exc:
        _fail(exc, json_mode)
    report.drift_reports(reports, json_mode)
    raise typer.Exit(ExitCode.OK if all(r.clean for r in reports) else ExitCode.DRIFT)


@runs_app.callback()
def runs_list(ctx: typer.Context,
              limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
              target: Annotated[str | None, typer.Option("--target")] = None,
              json_mode: JsonOpt = False) -> None:
    """List recent commands (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _with_store(ctx, lambda s: s.list_runs(limit=limit, target=target), json_mode)
    if json_mode:
        report.print_json(rows)
    else:
        report.runs_table(rows)


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: str, json_mode: JsonOpt = True) -> None:
    """One recorded run as JSON; a command id shows every target of that command."""
    def lookup(store: Any) -> Any:
        rows = [r for r in store.list_runs(limit=10_000) if r["id"].split("/", 1)[0] == run_id]
        return rows if len(rows) > 1 else store.get_run(run_id)

    row = _with_store(ctx, lookup, json_mode)
    if row is None:
        _fail(HybridcoreError(f"no run {run_id!r}", hint="list runs with 'hybridcore-packer runs'"), json_mode)
    report.print_json(row)


@artifacts_app.callback()
def artifacts_list(ctx: typer.Context,
                   target: Annotated[str | None, typer.Option("--target")] = None,
                   limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
                   github_output: Annotated[Path | None, typer.Option(
                       "--github-output", help="also append 'artifacts=<json>' (and per-target image ids) to "
                       "this file, e.g. $GITHUB_OUTPUT")] = None,
                   json_mode: JsonOpt = False) -> None:
    """List artifact records (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _with_store(ctx, lambda s: s.list_artifacts(target=target, limit=limit), json_mode)
    if github_output is not None:
        from hybridcore.packer.console.github import append_github_output

        append_github_output(github_output, rows)
    if json_mode:
        report.print_json(rows)
    else:
        report.artifacts_table(rows)


@artifacts_app.command("show")
def artifacts_show(ctx: typer.Context, build_id: str) -> None:
    """One artifact record as JSON (a unique prefix of the build id is enough)."""
    row = _with_store(ctx, lambda s: s.get_artifact(build_id), True)
    if row is None:
        _fail(HybridcoreError(f"no artifact {build_id!r}", hint="list them with 'hybridcore-packer artifacts'"),
              False)
    report.print_json(row)


@app.command("upgrade-check")
def upgrade_check_cmd(
    ctx: typer.Context,
    targets: TargetsArg = None,
    from_: Annotated[str, typer.Option("--from", help="the Packer binary in use now")] = "packer",
    to: Annotated[str, typer.Option("--to", help="the candidate Packer binary")] = "packer",
    report_dir: Annotated[Path | None, typer.Option("--report-dir", help="where the Markdown and JSON reports "
                                                    "go (default .hybridcore/upgrade/<id>)")] = None,
    json_mode: JsonOpt = False,
) -> None:
    """Smoke-build targets with two Packer binaries in sandboxes and diff what they produce."""
    from hybridcore.packer import upgrade

    try:
        checked = upgrade.upgrade_check(from_, to, targets or None, project=_project(ctx), report_dir=report_dir)
    except HybridcoreError as exc:
        _fail(exc, json_mode)
    if json_mode:
        report.print_json(checked.to_dict())
    else:
        report.text(checked.summary())
    raise typer.Exit(checked.exit_code)


def _shared_cache(ctx: typer.Context, cache_dir: Path | None) -> Any:
    from hybridcore.packer.cache import SharedCache
    from hybridcore.packer.config import load_project

    try:
        project = load_project(_project(ctx))
    except HybridcoreError as exc:
        _fail(exc, False)
    return SharedCache(cache_dir.resolve() if cache_dir else project.default_cache_dir)


CacheDirOpt = Annotated[Path | None, typer.Option("--cache-dir", help="default: [cache] dir or .hybridcore/cache")]


@cache_app.command("ls")
def cache_ls(ctx: typer.Context, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """List shared cache entries."""
    entries = _shared_cache(ctx, cache_dir).entries()
    if json_mode:
        report.print_json(entries)
    else:
        report.cache_table(entries)


@cache_app.command("verify")
def cache_verify(ctx: typer.Context, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """Re-hash every entry against its checksum; mismatches are quarantined (exit 1)."""
    verified = _shared_cache(ctx, cache_dir).verify()
    if json_mode:
        report.print_json(verified)
    else:
        report.cache_verified(verified)
    raise typer.Exit(ExitCode.OK if all(r["ok"] for r in verified) else ExitCode.FAILED)


@cache_app.command("prune")
def cache_prune(ctx: typer.Context,
                older_than: Annotated[float, typer.Option("--older-than", help="days unused", min=0)] = 30,
                cache_dir: CacheDirOpt = None) -> None:
    """Remove entries unused for --older-than days."""
    report.cache_pruned(_shared_cache(ctx, cache_dir).prune(older_than))


def _with_store(ctx: typer.Context, fn: Callable[[Any], Any], json_mode: bool) -> Any:
    from hybridcore.packer.config import load_project
    from hybridcore.state import StateStore

    try:
        project = load_project(_project(ctx))
        store = StateStore.for_root(project.root)
        try:
            if not store.exists():  # read-only commands never create a state
                from hybridcore.packer.sweep import NO_STATE

                return fn(NO_STATE)
            from hybridcore.packer.sweep import sweep

            sweep(store)  # runs of a killed wrapper become 'abandoned' before anyone lists them
            return fn(store)
        finally:
            store.close()
    except HybridcoreError as exc:
        _fail(exc, json_mode)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a CI job being cancelled) gets the same orderly stop as Ctrl-C.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    code = _dispatch(argv)
    # Every record is written and closed by now; skip the interpreter's teardown of SQLAlchemy and
    # pydantic (~0.15 s, measured) when running as the console script. Library callers never get here.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    if argv is None:
        os._exit(code)
    sys.exit(code)


def _dispatch(argv: list[str] | None) -> int:
    try:
        app(args=argv, prog_name="hybridcore-packer", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        # Reached only when no command was running (the API turns Ctrl-C into a recorded interruption).
        report.interrupted()
        return ExitCode.INTERRUPTED
    except OSError as exc:
        # The machine, not the code: a read-only project folder, a full disk, a vanished file.
        report.os_error(exc)
        return ExitCode.USAGE
    return ExitCode.OK


if __name__ == "__main__":  # pragma: no cover
    main()
