"""Results, errors and listings, as a person reads them (stderr for summaries) or as ``--json``.

With ``--json`` only the document goes to stdout; without it nothing here writes JSON except the
commands whose output *is* a record (``runs show``, ``artifacts show``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hybridcore.errors import HybridcoreError
from hybridcore.packer.console.terminal import console
from hybridcore.packer.status import Status

if TYPE_CHECKING:
    from hybridcore.packer.driftcheck import DriftReport
    from hybridcore.packer.records import CommandResult


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str), flush=True)


def plain(text: str) -> None:
    print(text, flush=True)


def command_result(result: CommandResult, json_mode: bool) -> None:
    if json_mode:
        print_json(result.to_dict())
        return
    err = console(stderr=True)
    from rich.markup import escape

    for warning in result.warnings:  # expressions such as [for p in x : p] are text, not markup
        err.print(f"[yellow]warning:[/] {escape(warning)}", markup=True)
    for t in result.targets:
        if t.status == Status.OK:
            err.print(f"[green]✓[/] {t.target}: {result.command} ok "
                      f"({len(t.artifacts)} artifact{'s' if len(t.artifacts) != 1 else ''})"
                      if result.command == "build" else f"[green]✓[/] {t.target}: {result.command} ok")
            for a in t.artifacts:
                err.print(f"    artifact {a.build_id} {a.platform} {', '.join(a.image_ids) or a.artifact_id}",
                          markup=False)
            continue
        c = t.classification
        kind = "retryable" if t.retryable else "hard-stop"
        err.print(f"[red]✗[/] {t.target}: {t.status} (exit {t.exit_code}) — {c.category}, {kind}"
                  + (f", after {len(t.attempts)} attempts" if len(t.attempts) > 1 else ""))
        err.print(f"  hint: {c.hint}", markup=False)
        err.print(f"  logs: {t.run_dir}", markup=False)
    err.print(f"command {result.command_id} · env {result.env} · packer {result.packer_version}", style="dim")


def error(exc: HybridcoreError, json_mode: bool) -> None:
    if json_mode:
        print_json(exc.to_dict())
        return
    err = console(stderr=True)
    if "[" not in exc.message:
        err.print(f"[red]error:[/] {exc.message}", markup=True, highlight=False)
    else:
        err.print("error: " + exc.message, markup=False)
    if exc.hint:
        err.print(f"hint: {exc.hint}", markup=False)


def drift_reports(reports: Sequence[DriftReport], json_mode: bool) -> None:
    if json_mode:
        print_json([{"target": r.target, "env": r.env, "clean": r.clean, "digest": r.digest,
                     "trusted_digest": r.trusted_digest, "diff": r.diff, "warnings": list(r.warnings)}
                    for r in reports])
        return
    from rich.markup import escape

    out = console()
    for warning in dict.fromkeys(w for r in reports for w in r.warnings):
        console(stderr=True).print(f"[yellow]warning:[/] {escape(warning)}")
    for r in reports:
        if r.clean:
            out.print(f"[green]✓[/] {r.target} ({r.env}): no drift")
        else:
            out.print(f"[yellow]![/] {r.target} ({r.env}): drift")
            out.print("\n".join("    " + line for line in r.summary.splitlines()), markup=False)
    if not all(r.clean for r in reports):
        out.print("run 'hybridcore-packer validate' to trust the new inputs", style="dim")


def runs_table(rows: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    table = Table("run", "kind", "target", "env", "status", "exit", "category", "started")
    for r in rows:
        table.add_row(r["id"], r["kind"], r["target"], r["env"], r["status"], str(r.get("exit_code")),
                      r.get("category") or "", r.get("started_at") or "")
    console().print(table)


def artifacts_table(rows: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    table = Table("build_id", "target", "platform", "region", "image ids", "builder")
    for r in rows:
        table.add_row(r["build_id"], r["target"], r["platform"], r.get("region") or "",
                      ", ".join(r.get("image_ids") or []) or r.get("artifact_id", ""), r["builder_id"])
    console().print(table)


def cache_table(entries: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    table = Table("entry", "size", "url", "checksum", "last used")
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e["last_used"])) if e["last_used"] else ""
        table.add_row(e["entry"], str(e["size"]), e["url"] or "(not recorded)", e["checksum"] or "", used)
    console().print(table)


def cache_verified(report: Sequence[Mapping[str, Any]]) -> None:
    for r in report:
        plain(f"{'ok ' if r['ok'] else 'BAD'} {r['entry']} {r['problem'] or ''}".rstrip())


def cache_pruned(entries: Sequence[str]) -> None:
    for entry in entries:
        plain(f"removed {entry}")


def text(body: str) -> None:
    """A prepared multi-line text (e.g. the upgrade-check summary), printed as it is."""
    console().print(body, markup=False)


def interrupted() -> None:
    sys.stderr.write("interrupted\n")


def os_error(exc: OSError) -> None:
    where = f" ({exc.filename})" if exc.filename else ""
    sys.stderr.write(f"error: {exc.strerror or exc}{where}\n"
                     "hint: check that the project folder and .hybridcore/ are writable and the disk has space\n")
