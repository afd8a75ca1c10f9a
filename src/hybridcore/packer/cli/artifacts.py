"""``artifacts``: the records of what builds produced (``artifacts/<build_id>.json``), one shown whole."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybridcore.errors import ExitCode
from hybridcore.packer.cli import base as cli
from hybridcore.packer.cli.base import JsonOpt, artifacts_app, exit_with


@artifacts_app.callback()
def artifacts_list(ctx: typer.Context,
                   target: Annotated[str | None, typer.Option("--target")] = None,
                   limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
                   github_output: Annotated[Path | None, typer.Option(
                       "--github-output", help="also append 'artifacts=<json>' (and per-target image ids) to "
                       "this file, e.g. $GITHUB_OUTPUT")] = None,
                   json_mode: JsonOpt = False) -> None:
    """List artifact records, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from hybridcore.packer.console import documents, tables
    from hybridcore.packer.console.terminal import emit

    rows = cli.with_store(ctx, json_mode, lambda s: s.list_artifacts(target=target, limit=limit) if s else [])
    if github_output is not None:
        from hybridcore.packer.console.github import append_github_output

        append_github_output(github_output, rows)
    if json_mode:
        documents.print_json(rows)
    elif rows:
        tables.artifacts_table(rows)
    else:
        emit("no artifact records yet", style="dim", stderr=True)
    exit_with(ExitCode.OK)


def _record(ctx: typer.Context, build_id: str, json_mode: bool) -> dict[str, Any]:
    row = cli.with_store(ctx, json_mode, lambda s: s.get_artifact(build_id) if s else None)
    if row is None:
        cli.usage(f"no artifact {build_id!r}", "list them with 'hybridcore-packer artifacts'", json_mode)
    return dict(row)


@artifacts_app.command("show")
def artifacts_show(ctx: typer.Context, build_id: str, json_mode: JsonOpt = False) -> None:
    """One artifact record (a unique prefix of the build id is enough)."""
    from hybridcore.packer.console import documents
    from hybridcore.packer.console.terminal import emit

    record = _record(ctx, build_id, json_mode)
    if json_mode:
        documents.print_json(record)
        exit_with(ExitCode.OK)
    prov = record.get("provenance") or {}
    for key, value in (("build_id", record.get("build_id")), ("target", record.get("target")),
                       ("build", record.get("build_name")), ("builder", record.get("builder_type")),
                       ("platform", record.get("platform")), ("region", record.get("region")),
                       ("image ids", ", ".join(record.get("image_ids") or []) or "(none)"),
                       ("artifact id", record.get("artifact_id")),
                       ("files", ", ".join(f.get("name", "") for f in record.get("files") or []) or "(none)"),
                       ("command", prov.get("command_id")), ("env", prov.get("env")),
                       ("git", f"{prov.get('git_sha')}{' (dirty)' if prov.get('git_dirty') else ''}"),
                       ("packer", prov.get("packer_version")), ("fingerprint", prov.get("fingerprint")),
                       ("built", f"{prov.get('started_at')} → {prov.get('finished_at')}")):
        emit(f"{key:<12} {'' if value is None else value}")
    for key, value in sorted((record.get("extra") or {}).items()):
        emit(f"{key:<12} {value}")
    exit_with(ExitCode.OK)
