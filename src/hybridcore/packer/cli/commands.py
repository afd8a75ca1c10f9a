"""The commands that run Packer (``fmt``, ``validate``, ``build``) and the ones that only look (``drift``,
``plan``, ``explain``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hybridcore.errors import ExitCode, HybridcoreError
from hybridcore.packer.cli import base as cli
from hybridcore.packer.cli.base import (
    JsonOpt,
    ProvOpt,
    SecretOpt,
    TargetsArg,
    TimeoutOpt,
    VarFileOpt,
    VarOpt,
    app,
    exit_with,
    guarded,
    load,
    parse_vars,
)

if TYPE_CHECKING:
    from hybridcore.packer.config import Project
    from hybridcore.packer.records import CommandResult
    from hybridcore.packer.session import Observer


class OnError(StrEnum):
    cleanup = "cleanup"
    abort = "abort"
    run_cleanup_provisioner = "run-cleanup-provisioner"


@contextmanager
def _narration(ctx: typer.Context, project: Project, json_mode: bool, names: Sequence[str],
               live: bool) -> Iterator[Observer | None]:
    """The observer for one command: with --json only the wrapper's own messages (on stderr); a live
    table on a terminal for several targets built in parallel; plain prefixed lines otherwise.
    Registered for the Ctrl-C acknowledgement."""
    from hybridcore.packer.console.narrate import MessagesOnly, Narrator
    from hybridcore.packer.console.stream import LinePrinter

    view_cm: AbstractContextManager[Any]
    if json_mode:
        view_cm = nullcontext(MessagesOnly(LinePrinter(names, multi=len(names) != 1)))
    elif live:
        from hybridcore.packer.console.live import LiveView
        from hybridcore.packer.console.terminal import console

        view_cm = LiveView(console(), list(names))
    else:
        view_cm = nullcontext(LinePrinter(names, multi=len(names) != 1))
    opts = cli.options(ctx)
    with view_cm as view:
        narrator = Narrator(view, grace=project.kill_grace)
        opts.narrator = narrator
        try:
            yield narrator
        finally:
            opts.narrator = None


def _names(ctx: typer.Context, project: Project, targets: list[str] | None, json_mode: bool) -> list[str]:
    with guarded(ctx, json_mode):
        return [t.name for t in project.resolve(targets or None)]


def _finish(ctx: typer.Context, project: Project, result: CommandResult, json_mode: bool) -> None:
    """Print the result, write the step summary, apply ``[runs] keep``; exit with the result's code."""
    from hybridcore.packer.console import documents, report

    result = documents.with_errors(result)
    if json_mode:
        documents.print_json(result.to_dict())
    else:
        report.command_result(result)
    _step_summary(result.to_dict())
    _keep_runs(project, result.command_id)
    exit_with(result.exit_code)


def _step_summary(result: dict[str, Any]) -> None:
    if not os.environ.get("GITHUB_STEP_SUMMARY"):
        return
    from hybridcore.packer.console.terminal import emit
    from hybridcore.packer.step_summary import append_step_summary

    try:
        append_step_summary(result)
    except OSError as exc:
        emit(f"warning: could not write the step summary to $GITHUB_STEP_SUMMARY: {exc.strerror or exc}",
             style="yellow", stderr=True)


def _keep_runs(project: Project, command_id: str) -> None:
    """``[runs] keep = N``: drop the run folders and logs of all but the newest N commands."""
    if project.runs_keep is None:
        return
    from hybridcore.packer.console.terminal import emit
    from hybridcore.packer.retention import prune

    try:
        prune(project.state_dir, keep=project.runs_keep, active=_active(project) | {command_id})
    except (HybridcoreError, OSError) as exc:
        emit(f"warning: [runs] keep: could not prune old runs: {exc}", style="yellow", stderr=True)


def _active(project: Project) -> set[str]:
    """Commands still running (another process may be writing into their folders)."""
    store = cli.existing_store(project)
    if store is None:
        return set()
    try:
        return {str(r["id"]).split("/", 1)[0] for r in store.list_runs(limit=10_000) if r["status"] == "running"}
    finally:
        store.close()


def _run(ctx: typer.Context, json_mode: bool, targets: list[str] | None,
         call: Callable[[Project, Observer | None], CommandResult], *, live: bool = False) -> None:
    project = load(ctx, json_mode)
    names = _names(ctx, project, targets, json_mode)
    with guarded(ctx, json_mode), _narration(ctx, project, json_mode, names, live) as observer:
        result = call(project, observer)
    _finish(ctx, project, result, json_mode)


@app.command("fmt")
def fmt_cmd(ctx: typer.Context, targets: TargetsArg = None,
            check: Annotated[bool, typer.Option("--check", help="exit 3 if files need formatting")] = False,
            diff: Annotated[bool, typer.Option("--diff", help="show the changes")] = False,
            recursive: Annotated[bool, typer.Option("--recursive/--no-recursive")] = True,
            var: VarOpt = None, var_file: VarFileOpt = None, json_mode: JsonOpt = False) -> None:
    """Format (or with --check, check) the targets' HCL2 templates; says which files it rewrote.

    --var/--var-file are accepted so every command takes the same line; formatting ignores them."""
    from hybridcore.packer import api

    with guarded(ctx, json_mode):
        parse_vars(var)  # still reject a malformed --var: the same line must fail the same way
    _run(ctx, json_mode, targets, lambda p, obs: api.fmt(targets or None, check=check, diff=diff,
                                                        recursive=recursive, project=p, observer=obs))


@app.command("validate")
def validate_cmd(ctx: typer.Context, targets: TargetsArg = None, var: VarOpt = None, var_file: VarFileOpt = None,
                 secret: SecretOpt = None, provisioner: ProvOpt = None, timeout: TimeoutOpt = None,
                 json_mode: JsonOpt = False) -> None:
    """Validate the targets; success makes their current inputs trusted for build."""
    from hybridcore.packer import api

    with guarded(ctx, json_mode):
        values = parse_vars(var, secret)
    _run(ctx, json_mode, targets, lambda p, obs: api.validate(
        targets or None, values, var_files=var_file, provisioners=provisioner, project=p, observer=obs,
        timeout=timeout))


@app.command("build")
def build_cmd(
    ctx: typer.Context,
    targets: TargetsArg = None, var: VarOpt = None, var_file: VarFileOpt = None, secret: SecretOpt = None,
    provisioner: ProvOpt = None,
    force: Annotated[bool, typer.Option("--force", help="packer -force: replace existing artifacts")] = False,
    parallel: Annotated[int | None, typer.Option("--parallel", min=1, help="targets built at once")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="a fresh private download cache")] = False,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="shared download cache folder")] = None,
    retries: Annotated[int | None, typer.Option("--retries", min=0, help="re-runs of retryable failures")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="stop the other targets when one fails")] = False,
    timeout: TimeoutOpt = None,
    lock_timeout: Annotated[float | None, typer.Option(
        "--lock-timeout", min=0, help="seconds to wait while another build of the same target and env holds "
        "its lock (default 0); then exit 75, category locked")] = None,
    on_error: Annotated[OnError | None, typer.Option(
        "--on-error", help="Packer's -on-error: what to do with the build's VM when it fails (abort keeps "
        "it for debugging; Packer's 'ask' needs a terminal the wrapper cannot give)")] = None,
    json_mode: JsonOpt = False,
) -> None:
    """Build the targets (refused with exit 4 when inputs drifted since validate)."""
    from hybridcore.packer import api
    from hybridcore.packer.console.terminal import is_terminal

    with guarded(ctx, json_mode):
        values = parse_vars(var, secret)

    def call(project: Project, observer: Observer | None) -> CommandResult:
        return api.build(targets or None, values, provisioner, var_files=var_file, force=force,
                         parallel=parallel, use_cache=not no_cache, cache_dir=cache_dir, retries=retries,
                         fail_fast=fail_fast, timeout=timeout, lock_timeout=lock_timeout,
                         on_error=str(on_error) if on_error else None,
                         project=project, observer=observer)

    live = not json_mode and is_terminal() and (parallel or 0) > 1 and len(targets or []) != 1
    _run(ctx, json_mode, targets, call, live=live)


@app.command("drift")
def drift_cmd(ctx: typer.Context, targets: TargetsArg = None, var: VarOpt = None, var_file: VarFileOpt = None,
              secret: SecretOpt = None, provisioner: ProvOpt = None, json_mode: JsonOpt = False) -> None:
    """Show what changed since each target was last trusted (exit 4 if anything did). Runs no Packer."""
    from hybridcore.packer import api
    from hybridcore.packer.console import documents, report

    project = load(ctx, json_mode)
    with guarded(ctx, json_mode):
        reports = api.drift(targets or None, parse_vars(var, secret), var_files=var_file,
                            provisioners=provisioner, project=project)
    code = ExitCode.OK if all(r.clean for r in reports) else ExitCode.DRIFT
    if json_mode:
        documents.print_json(documents.drift_document(reports, code))
    else:
        report.drift_reports(reports)
    exit_with(code)


@app.command("plan")
def plan_cmd(ctx: typer.Context, targets: TargetsArg = None, var: VarOpt = None, var_file: VarFileOpt = None,
             secret: SecretOpt = None, provisioner: ProvOpt = None, json_mode: JsonOpt = False,
             matrix: Annotated[bool, typer.Option("--matrix", help="print a GitHub Actions matrix of the "
                                                  "targets to build: {\"include\": [{\"target\": ...}]}")] = False,
             ) -> None:
    """Each target's state: current (built), build (validated, not built), drift, untrusted. Runs no Packer."""
    from hybridcore.packer import planstate
    from hybridcore.packer.console import documents, report

    project = load(ctx, json_mode or matrix)
    with guarded(ctx, json_mode or matrix):
        values = parse_vars(var, secret)
    states = cli.with_store(ctx, json_mode or matrix, lambda store: planstate.plan_states(
        targets or None, values, var_files=var_file, provisioners=provisioner, project=project, store=store))
    if matrix:
        documents.print_json(planstate.matrix(states))
    elif json_mode:
        documents.print_json(planstate.document(states))
    else:
        report.plan_states(planstate.document(states))
    exit_with(ExitCode.OK)


@app.command("explain")
def explain_cmd(ctx: typer.Context, run_id: Annotated[str, typer.Argument(help="a run id (command id/target) "
                                                                          "or a unique prefix")],
                json_mode: JsonOpt = False) -> None:
    """Why a run was classified as it was: the rule, its evidence, the hint, what a retry would do."""
    from hybridcore.packer.cli.runs import resolve_rows, target_result
    from hybridcore.packer.console import documents, report

    project = load(ctx, json_mode)
    rows = cli.with_store(ctx, json_mode, lambda store: resolve_rows(store, run_id))
    if rows is None:
        cli.usage(f"no run {run_id!r}", "list runs with 'hybridcore-packer runs'", json_mode)
    failed = [r for r in rows if r.get("status") not in ("ok", "running")]
    if len(failed or rows) > 1:
        what = "targets that did not succeed" if failed else "targets, all of which succeeded"
        cli.usage(f"{run_id!r} names {len(failed or rows)} {what}",
                  "name one: " + ", ".join(str(r["id"]) for r in failed or rows), json_mode)
    failed = failed or rows
    row = failed[0]
    with guarded(ctx, json_mode):
        doc = _explain(project, row, target_result(row))
    if json_mode:
        documents.print_json(doc)
    else:
        report.explanation(doc)
    exit_with(ExitCode.OK)


def _explain(project: Project, row: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    from hybridcore.packer.classify import Classification, explain, load_rules
    from hybridcore.packer.console.packer_errors import error_lines

    stdout = str((result or {}).get("stdout") or "")
    stderr = str((result or {}).get("stderr") or "")
    cls = (result or {}).get("classification") or {}
    classification = Classification(
        retryable=bool(cls.get("retryable", row.get("retryable"))), category=str(cls.get("category") or
                                                                                row.get("category") or "unknown"),
        hint=str(cls.get("hint") or row.get("hint") or ""), rule=str(cls.get("rule") or "no-match"))
    log_tail = None
    if row.get("run_dir"):
        log = Path(str(row["run_dir"])) / "packer.log"
        try:
            with log.open("rb") as fh:
                fh.seek(max(0, log.stat().st_size - 65536))
                log_tail = fh.read().decode("utf-8", "replace")
        except OSError:
            log_tail = None
    rules = load_rules(project.classify_rules) if project.classify_rules else None
    attempts = len((result or {}).get("attempts") or []) or int(row.get("attempt") or 1)
    explained = explain(classification, stdout + "\n" + stderr, rules=rules, log_tail=log_tail, attempt=attempts)
    errors = (result or {}).get("errors") or error_lines(stdout, stderr)
    doc = {"schema_version": 1, "run_id": row["id"], "target": row.get("target"), "status": row.get("status"),
           "exit_code": row.get("exit_code"), **explained.to_dict(), "errors": list(errors)}
    if result is None and row.get("run_dir") and not Path(str(row["run_dir"])).exists():
        # Not "no rule matched": the output that would show the rule and its evidence is gone.
        doc.update(rule="unknown", evidence=[], outweighed=[], source=f"the run folder {row['run_dir']} was "
                   "removed (runs prune or [runs] keep): only the recorded category and hint remain")
    return doc

