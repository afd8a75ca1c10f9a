"""``cache``, ``init`` and ``upgrade-check``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hybridcore.errors import ExitCode
from hybridcore.packer.cli import base as cli
from hybridcore.packer.cli.base import JsonOpt, TargetsArg, app, cache_app, exit_with

if TYPE_CHECKING:
    from hybridcore.packer.cache import SharedCache

CacheDirOpt = Annotated[Path | None, typer.Option("--cache-dir", help="default: [cache] dir or .hybridcore/cache")]


def _shared_cache(ctx: typer.Context, cache_dir: Path | None, json_mode: bool) -> SharedCache:
    from hybridcore.packer.cache import SharedCache

    project = cli.load(ctx, json_mode)
    return SharedCache(cache_dir.resolve() if cache_dir else project.default_cache_dir)


@cache_app.command("ls")
def cache_ls(ctx: typer.Context, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """List shared cache entries (sizes human-readable; bytes in --json)."""
    from hybridcore.packer.console import documents, tables

    with cli.guarded(ctx, json_mode):
        entries = _shared_cache(ctx, cache_dir, json_mode).entries()
    if json_mode:
        documents.print_json(documents.cache_rows(entries))
    else:
        tables.cache_table(entries)
    exit_with(ExitCode.OK)


@cache_app.command("verify")
def cache_verify(ctx: typer.Context, cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """Re-hash every entry against its checksum; mismatches are quarantined (exit 1)."""
    from hybridcore.packer.console import documents, tables

    with cli.guarded(ctx, json_mode):
        verified = _shared_cache(ctx, cache_dir, json_mode).verify()
    if json_mode:
        documents.print_json(documents.cache_rows(verified))
    else:
        tables.cache_verified(verified)
    exit_with(ExitCode.OK if all(r["ok"] for r in verified) else ExitCode.FAILED)


@cache_app.command("prune")
def cache_prune(ctx: typer.Context,
                older_than: Annotated[float, typer.Option("--older-than", help="days unused", min=0)] = 30,
                cache_dir: CacheDirOpt = None, json_mode: JsonOpt = False) -> None:
    """Remove entries unused for --older-than days."""
    from hybridcore.packer.console import documents, tables

    with cli.guarded(ctx, json_mode):
        cache = _shared_cache(ctx, cache_dir, json_mode)
        sizes = {e["entry"]: int(e["size"]) for e in cache.entries()}
        removed = cache.prune(older_than)
    freed = sum(sizes.get(name, 0) for name in removed)
    if json_mode:
        documents.print_json({"schema_version": documents.SCHEMA_VERSION, "cache_dir": str(cache.root),
                              "removed": removed, "freed_bytes": freed})
    else:
        tables.pruned("cache prune", removed, freed)
    exit_with(ExitCode.OK)


@app.command("init")
def init_cmd(ctx: typer.Context, json_mode: JsonOpt = False) -> None:
    """Write hybridcore.toml (one target per template folder found) and .gitignore entries here."""
    from hybridcore.packer.console import documents
    from hybridcore.packer.console.terminal import emit
    from hybridcore.packer.init import init_project

    folder = (cli.options(ctx).project or Path.cwd()).resolve()
    with cli.guarded(ctx, json_mode):
        result = init_project(folder)
    if json_mode:
        documents.print_json({"schema_version": documents.SCHEMA_VERSION, **result.to_dict()})
        exit_with(ExitCode.OK)
    emit(f"wrote {result.config_path}" + (f" with targets: {', '.join(result.targets)}" if result.targets
                                          else " (an example: no Packer template found below this folder)"))
    if result.gitignore_added:
        emit(f"added to .gitignore: {' '.join(result.gitignore_added)}")
    emit("next: hybridcore-packer validate, then hybridcore-packer build", style="dim", stderr=True)
    exit_with(ExitCode.OK)


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
    """Smoke-build targets with two Packer binaries in sandboxes and diff what they produce.

    Progress (each sandbox, each step of each target) goes to stderr as it happens."""
    from hybridcore.packer import upgrade
    from hybridcore.packer.console import documents
    from hybridcore.packer.console.terminal import emit

    def progress(event: Any) -> None:
        emit(upgrade.progress_line(event), style="dim", stderr=True)

    project = cli.load(ctx, json_mode)
    with cli.guarded(ctx, json_mode):
        checked = upgrade.upgrade_check(from_, to, targets or None, project=project, report_dir=report_dir,
                                        on_progress=progress)
    if json_mode:
        documents.print_json({"schema_version": documents.SCHEMA_VERSION, **checked.to_dict()})
    else:
        for line in checked.summary().splitlines():
            emit(line)
    exit_with(checked.exit_code)
