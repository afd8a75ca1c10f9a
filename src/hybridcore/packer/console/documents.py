"""The ``--json`` documents: one stable, versioned shape per output, built from plain data.

Listings (``runs``, ``artifacts``, ``cache ls``, ``cache verify``) are JSON arrays of rows, each row
carrying its own ``schema_version``; every other document is an object with ``schema_version``. Errors
are :func:`error_document` whatever the command. The shapes are published as JSON Schemas
(``schemas/*.schema.json``, models in ``console.shapes``); a change to one is a new ``schema_version``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hybridcore.errors import DriftDetected, HybridcoreError
from hybridcore.packer.console.packer_errors import error_lines

if TYPE_CHECKING:
    from hybridcore.packer.driftcheck import DriftReport
    from hybridcore.packer.records import CommandResult

SCHEMA_VERSION = 1
RUN_FIELDS = ("id", "command_id", "kind", "target", "env", "argv", "status", "exit_code", "category",
              "retryable", "hint", "started_at", "finished_at", "run_dir", "attempt")


def print_json(obj: Any) -> None:
    """The document on stdout, alone (``--json``)."""
    try:
        sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass


def run_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A run row of the state as ``runs --json`` prints it (only the published fields, in order)."""
    run_id = str(row.get("id") or "")
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for key in RUN_FIELDS:
        out[key] = run_id.split("/", 1)[0] if key == "command_id" else row.get(key)
    if out["attempt"] is None:
        out["attempt"] = 1
    return out


def run_command(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``runs show``: one command and the targets asked for (all of them for a command id)."""
    from hybridcore.packer.status import worst

    shown = [run_row(r) for r in rows]
    codes = [r["exit_code"] for r in shown if r["exit_code"] is not None]
    running = any(r["status"] == "running" for r in shown)
    exit_code = None if running or not codes else int(worst(codes))
    decisive = next((r for r in shown if r["exit_code"] == exit_code), shown[0])
    finished = [r["finished_at"] for r in shown if r["finished_at"]]
    first = shown[0]
    run_dir = first["run_dir"]
    return {
        "schema_version": SCHEMA_VERSION, "command_id": first["command_id"], "kind": first["kind"],
        "env": first["env"], "status": "running" if running else decisive["status"], "exit_code": exit_code,
        "started_at": min(r["started_at"] for r in shown if r["started_at"]) if any(
            r["started_at"] for r in shown) else None,
        "finished_at": None if running or not finished else max(finished),
        "run_dir": str(run_dir).rsplit("/", 1)[0] if run_dir and "/" in first["id"] else run_dir,
        "targets": shown,
    }


def with_errors(result: CommandResult) -> CommandResult:
    """``result`` with ``errors`` filled from Packer's output where the runner left them empty."""
    targets = [t if t.errors else replace(t, errors=error_lines(t.stdout, t.stderr)) for t in result.targets]
    errors = result.errors or [f"{t.target}: {e}" if len(targets) > 1 else e for t in targets for e in t.errors]
    return replace(result, targets=targets, errors=errors)


def drift_document(reports: Sequence[DriftReport], exit_code: int) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "exit_code": exit_code, "targets": [
        {"target": r.target, "env": r.env, "clean": r.clean, "untrusted": bool(r.diff.get("untrusted")),
         "digest": r.digest, "trusted_digest": r.trusted_digest, "diff": r.diff,
         "warnings": list(r.warnings)} for r in reports]}


def cache_rows(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"schema_version": SCHEMA_VERSION, "entry": e["entry"], "size": e["size"], "url": e.get("url"),
             "checksum": e.get("checksum"), "last_used": e.get("last_used"), "tracked": bool(e.get("tracked")),
             **({"ok": bool(e["ok"]), "problem": e.get("problem")} if "ok" in e else {})} for e in entries]


def error_document(exc: HybridcoreError) -> dict[str, Any]:
    """Any refusal or bad input: ``{schema_version, error, message, hint, exit_code}`` (+ ``diff``)."""
    message, hint = error_text(exc)
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "error": type(exc).__name__, "message": message,
                           "hint": hint, "exit_code": int(exc.exit_code)}
    if isinstance(exc, DriftDetected):
        doc["diff"] = exc.diff
    return doc


def error_text(exc: HybridcoreError) -> tuple[str, str]:
    """The message and hint of ``exc`` as a person should read them.

    A build refused for targets that were never validated in this env says so, instead of "inputs
    differ from what was last trusted", and tells how trust is carried to a build (same job or shared
    state)."""
    if isinstance(exc, DriftDetected) and exc.diff:
        never = sorted(name for name, d in exc.diff.items() if isinstance(d, Mapping) and d.get("untrusted"))
        if never and len(never) == len(exc.diff):
            env = _env_of(exc.message)
            names = " ".join(never)
            return (f"build refused: {', '.join(never)} never validated in env {env!r}",
                    f"run 'hybridcore-packer validate {names}' first; in CI validate and build in one job, "
                    "or share the state between jobs with HYBRIDCORE_STATE_URL")
    return exc.message, exc.hint


def _env_of(message: str) -> str:
    marker = " in env '"
    if marker in message:
        return message.split(marker, 1)[1].split("'", 1)[0]
    import os

    return os.environ.get("HYBRIDCORE_ENV", "dev")
