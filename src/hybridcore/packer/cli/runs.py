"""``runs``: the commands recorded in the state, one shown whole, its logs, and pruning old ones.

An id is a target's run id (``<command_id>/<target slug>``), a command id (every target of it), or a
prefix of either that names one command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hybridcore.errors import ExitCode, HybridcoreError
from hybridcore.packer.cli import base as cli
from hybridcore.packer.cli.base import JsonOpt, exit_with, runs_app

if TYPE_CHECKING:
    from hybridcore.state import StateStore

_SCAN = 100_000


def resolve_rows(store: StateStore | None, run_id: str) -> list[dict[str, Any]] | None:
    """The rows ``run_id`` names (see the module doc), or None; several commands is an error."""
    if store is None or not run_id.strip():
        return None
    rows = store.list_runs(limit=_SCAN)
    exact = [r for r in rows if r["id"] == run_id]
    if exact:
        return exact
    matched = [r for r in rows if str(r["id"]).startswith(run_id)]
    commands = sorted({str(r["id"]).split("/", 1)[0] for r in matched})
    if not commands:
        return None
    if len(commands) > 1:
        shown = ", ".join(commands[:5]) + (" ..." if len(commands) > 5 else "")
        raise HybridcoreError(f"{run_id!r} is the start of {len(commands)} commands: {shown}",
                              hint="give more characters of the id")
    if "/" in run_id:
        return sorted(matched, key=lambda r: str(r["id"]))
    return sorted((r for r in rows if str(r["id"]).split("/", 1)[0] == commands[0]), key=lambda r: str(r["id"]))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def target_result(row: dict[str, Any]) -> dict[str, Any] | None:
    """The target's stored ``result.json`` (its ``TargetResult``), if the run got that far."""
    return _read_json(Path(str(row["run_dir"])) / "result.json") if row.get("run_dir") else None


def _lookup(ctx: typer.Context, run_id: str, json_mode: bool) -> list[dict[str, Any]]:
    rows = cli.with_store(ctx, json_mode, lambda store: resolve_rows(store, run_id))
    if rows is None:
        cli.usage(f"no run {run_id!r}", "list runs with 'hybridcore-packer runs'", json_mode)
    return list(rows)


@runs_app.callback()
def runs_list(ctx: typer.Context,
              limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="rows shown (newest first)")] = 20,
              target: Annotated[str | None, typer.Option("--target", help="only the runs of this target")] = None,
              json_mode: JsonOpt = False) -> None:
    """List recent runs, newest first (one row per target of each command)."""
    if ctx.invoked_subcommand is not None:
        return
    from hybridcore.packer.console import documents, tables
    from hybridcore.packer.console.terminal import emit

    rows = cli.with_store(ctx, json_mode, lambda s: s.list_runs(limit=limit, target=target) if s else [])
    if json_mode:
        documents.print_json([documents.run_row(r) for r in rows])
    elif rows:
        tables.runs_table(rows)
    else:
        emit("no runs recorded yet", style="dim", stderr=True)
    exit_with(ExitCode.OK)


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: str, json_mode: JsonOpt = False,
              markdown: Annotated[bool, typer.Option("--markdown", help="the GitHub step summary of the run "
                                                     "(Markdown table and timeline)")] = False) -> None:
    """One command (or one target of it): status, exit code, each target, where its logs are."""
    from hybridcore.packer.console import documents
    from hybridcore.packer.console.terminal import emit

    rows = _lookup(ctx, run_id, json_mode)
    doc = documents.run_command(rows)
    if markdown:
        from hybridcore.packer.step_summary import render_markdown

        text = render_markdown(_summary_source(doc, rows, whole="/" not in run_id))
        for line in text.rstrip("\n").splitlines():
            emit(line)
    elif json_mode:
        documents.print_json(doc)
    else:
        _show_text(doc, rows)
    exit_with(ExitCode.OK)


def _summary_source(doc: dict[str, Any], rows: list[dict[str, Any]], *, whole: bool) -> dict[str, Any]:
    """The stored result the step summary is made from: the command's ``result.json`` when the whole
    command is shown, else the targets' own (rows stand in for targets that never finished)."""
    if whole and doc.get("run_dir"):
        stored = _read_json(Path(str(doc["run_dir"])) / "result.json")
        if stored is not None:
            return stored
    targets = [target_result(r) or r for r in rows]
    if len(targets) == 1:
        return targets[0]
    return {**{k: doc[k] for k in ("command_id", "env", "status", "exit_code", "started_at", "finished_at")},
            "command": doc["kind"], "targets": targets}


def _show_text(doc: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    from hybridcore.packer.console.packer_errors import error_lines
    from hybridcore.packer.console.report import with_run_id
    from hybridcore.packer.console.terminal import emit, emit_wrapped

    emit(f"command {doc['command_id']}: {doc['kind']} · env {doc['env']} · {doc['status']}"
         + (f" (exit {doc['exit_code']})" if doc["exit_code"] is not None else ""))
    emit(f"started {doc['started_at']}" + (f" · finished {doc['finished_at']}" if doc["finished_at"] else ""))
    for row in rows:
        emit(f"{row['id']}: {row['status']}" + (f" (exit {row['exit_code']})" if row.get("exit_code") else "")
             + (f" · {row['category']}" if row.get("category") and row["category"] != "ok" else ""))
        result = target_result(row) or {}
        errors = result.get("errors") or error_lines(str(result.get("stdout") or ""),
                                                     str(result.get("stderr") or ""))
        for err in errors[:5]:
            for n, line in enumerate(err.splitlines()[:6]):
                emit(line, prefix="  error: " if n == 0 else "         ", style="red")
        if row.get("hint") and row.get("status") != "ok":
            emit_wrapped(with_run_id(str(row["hint"]), str(row["id"])), lead="  hint: ", stderr=False)
        if row.get("status") not in ("ok", "running"):  # the same pointers as the summary after the run
            emit(f"  logs: hybridcore-packer runs logs {row['id']}")
            emit(f"  why:  hybridcore-packer explain {row['id']}")
        if row.get("run_dir"):
            gone = not Path(str(row["run_dir"])).is_dir()
            emit(f"  files: {row['run_dir']}" + (" (removed by runs prune or [runs] keep)" if gone else ""))


def _log_files(run_dir: Path) -> Iterator[tuple[int, Path]]:
    """(attempt, folder) of each attempt of a target, in order."""
    yield 1, run_dir
    extra = []
    for child in run_dir.glob("attempt-*"):
        suffix = child.name.removeprefix("attempt-")
        if child.is_dir() and suffix.isdigit():
            extra.append((int(suffix), child))
    yield from sorted(extra)


@runs_app.command("logs")
def runs_logs(ctx: typer.Context, run_id: str,
              target: Annotated[str | None, typer.Option("--target", help="only this target of the command")] = None,
              raw: Annotated[bool, typer.Option("--raw", help="the machine-readable lines as stored")] = False,
              ) -> None:
    """What Packer said, as it would have printed it (redacted as stored): every attempt, stdout then stderr."""
    from hybridcore.packer.console.stream import LinePrinter
    from hybridcore.packer.console.terminal import emit

    rows = _lookup(ctx, run_id, False)
    if target is not None:
        rows = [r for r in rows if r.get("target") == target or str(r["id"]).endswith("/" + target)]
        if not rows:
            cli.usage(f"run {run_id!r} has no target {target!r}", "see the targets with 'hybridcore-packer runs "
                      f"show {run_id}'", False)
    printer = LinePrinter([str(r["target"]) for r in rows], multi=len(rows) > 1, split=False)
    for row in rows:
        if not row.get("run_dir"):
            emit(f"{row['id']}: no logs ({row['status']} before Packer ran)", style="dim", stderr=True)
            continue
        if not Path(str(row["run_dir"])).is_dir():
            emit(f"{row['id']}: no logs: its run folder was removed (runs prune or [runs] keep)", style="dim",
                 stderr=True)
            continue
        attempts = list(_log_files(Path(str(row["run_dir"]))))
        for n, folder in attempts:
            if len(attempts) > 1:
                emit(f"==> {row['target']}: attempt {n} <==", style="bold", stderr=True)
            for stream in ("stdout", "stderr"):
                path = folder / f"{stream}.log"
                try:
                    with path.open(encoding="utf-8", errors="replace") as fh:
                        for line in fh:
                            if raw:
                                emit(line.rstrip("\n"))
                            else:
                                printer.line(str(row["target"]), stream, line.rstrip("\n"))
                except FileNotFoundError:
                    continue
    exit_with(ExitCode.OK)


@runs_app.command("prune")
def runs_prune(ctx: typer.Context,
               older_than: Annotated[float, typer.Option("--older-than", min=0, help="days: remove the run "
                                                         "folders and logs of commands older than this")],
               json_mode: JsonOpt = False) -> None:
    """Remove old run folders and event logs; never trust, built fingerprints or artifact records."""
    from hybridcore.packer.console import documents, tables
    from hybridcore.packer.retention import prune

    project = cli.load(ctx, json_mode)

    def active(store: StateStore | None) -> set[str]:
        if store is None:
            return set()
        return {str(r["id"]).split("/", 1)[0] for r in store.list_runs(limit=_SCAN) if r["status"] == "running"}

    running = cli.with_store(ctx, json_mode, active)
    with cli.guarded(ctx, json_mode):
        result = prune(project.state_dir, older_than_days=older_than, active=running)
    if json_mode:
        documents.print_json({"schema_version": documents.SCHEMA_VERSION, **result.to_dict()})
    else:
        tables.pruned("runs prune", list(result.removed), result.freed_bytes)
    exit_with(ExitCode.OK)
