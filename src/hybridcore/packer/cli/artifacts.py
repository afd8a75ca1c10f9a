"""``artifacts``: the records of what builds produced (``artifacts/<build_id>.json``) and the registry
over them: ``latest`` (what Terraform should use), ``promote`` to a channel, ``revoke`` for good.
Promotions and revocations are recorded in the state with who and when."""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hybridcore.errors import ExitCode, HybridcoreError
from hybridcore.packer.cli import base as cli
from hybridcore.packer.cli.base import JsonOpt, artifacts_app, exit_with

if TYPE_CHECKING:
    from hybridcore.state import StateStore


class NoMatchingArtifact(HybridcoreError):
    """``artifacts latest`` found no unrevoked record matching (exit 1: an answer, not bad input)."""

    exit_code = ExitCode.FAILED
    default_hint = "list the records with 'hybridcore-packer artifacts --target T'; revoked builds never match"


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


def _registry(store: StateStore | None, build_id: str) -> dict[str, Any] | None:
    """The record with its channels, revocation and promote/revoke history, or None."""
    record = store.get_artifact(build_id) if store is not None else None
    if record is None or store is None:
        return None
    full = str(record["build_id"])
    return {**record, "channels": store.channels_of(full), "revocation": store.revocation_of(full),
            "history": store.artifact_history(full)}


@artifacts_app.command("show")
def artifacts_show(ctx: typer.Context, build_id: str, json_mode: JsonOpt = False) -> None:
    """One artifact record (a unique prefix of the build id is enough), its channels and revocation."""
    from hybridcore.packer.console import documents
    from hybridcore.packer.console.terminal import emit

    record = cli.with_store(ctx, json_mode, lambda s: _registry(s, build_id))
    if record is None:
        cli.usage(f"no artifact {build_id!r}", "list them with 'hybridcore-packer artifacts'", json_mode)
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
    emit(f"{'channels':<12} {', '.join(record['channels']) or '(none)'}")
    revoked = record.get("revocation")
    if revoked:
        emit(f"{'REVOKED':<12} {revoked['at']} by {revoked['who']}: {revoked['reason']}", style="red")
    exit_with(ExitCode.OK)


def who() -> str:
    """Who records a promotion or revocation: the CI job when in GitHub Actions, else user@host."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        actor = os.environ.get("GITHUB_ACTOR") or "github-actions"
        where = " ".join(filter(None, (os.environ.get("GITHUB_REPOSITORY"),
                                       f"run {os.environ['GITHUB_RUN_ID']}" if os.environ.get("GITHUB_RUN_ID")
                                       else None)))
        return f"{actor} ({where})" if where else actor
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def terraform_document(record: dict[str, Any], channel: str | None) -> dict[str, str]:
    """The flat object of strings Terraform's ``external`` data source accepts."""
    prov = record.get("provenance") or {}
    ids = [str(i) for i in record.get("image_ids") or []]
    values: dict[str, Any] = {
        "build_id": record.get("build_id"), "target": record.get("target"),
        "image_id": ids[0] if ids else record.get("artifact_id"), "image_ids": ",".join(ids),
        "artifact_id": record.get("artifact_id"), "platform": record.get("platform"),
        "region": record.get("region"), "builder_type": record.get("builder_type"),
        "build_name": record.get("build_name"), "channel": channel, "env": prov.get("env"),
        "git_sha": prov.get("git_sha"), "packer_version": prov.get("packer_version"),
        "built_at": prov.get("finished_at"),
    }
    return {key: "" if value is None else str(value) for key, value in values.items()}


@artifacts_app.command("latest")
def artifacts_latest(
    ctx: typer.Context,
    target: Annotated[str, typer.Option("--target", help="the target whose newest record is wanted")],
    platform: Annotated[str | None, typer.Option("--platform")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="only builds promoted to this channel")] = None,
    json_mode: JsonOpt = False,
    terraform: Annotated[bool, typer.Option("--terraform", help="a flat JSON object of strings for "
                                            "Terraform's external data source")] = False,
) -> None:
    """The newest unrevoked record matching (exit 1 when there is none)."""
    from hybridcore.packer.console import documents
    from hybridcore.packer.console.terminal import emit

    if json_mode and terraform:
        cli.usage("--json and --terraform are two different outputs", "choose one", True)
    record = cli.with_store(ctx, json_mode, lambda s: s.latest_artifact(target, platform, region, channel)
                            if s else None)
    if record is None:
        wanted = ", ".join(f"{k} {v!r}" for k, v in (("platform", platform), ("region", region),
                                                      ("channel", channel)) if v)
        cli.fail(NoMatchingArtifact(f"no unrevoked artifact of target {target!r}"
                                    + (f" with {wanted}" if wanted else "")), json_mode)
    if terraform:
        documents.print_json(terraform_document(record, channel))
    elif json_mode:
        documents.print_json(record)
    else:
        ids = ", ".join(record.get("image_ids") or []) or record.get("artifact_id", "")
        emit(f"{record['build_id']} {record.get('platform')} {record.get('region') or ''} {ids}".replace("  ", " "))
    exit_with(ExitCode.OK)


def _write(ctx: typer.Context, json_mode: bool, action: Any) -> dict[str, Any]:
    from hybridcore.state import StateStore

    project = cli.load(ctx, json_mode)
    with cli.guarded(ctx, json_mode):
        if cli.existing_store(project) is None:
            raise HybridcoreError("no artifact records yet: the state is empty",
                                  hint="build something first ('hybridcore-packer build')")
        store = StateStore.for_root(project.root)
        try:
            return dict(action(store))
        except ValueError as exc:
            raise HybridcoreError(str(exc), hint="see 'hybridcore-packer artifacts --help'") from None
        finally:
            store.close()


def _event_out(event: dict[str, Any], json_mode: bool) -> None:
    from hybridcore.packer.console import documents
    from hybridcore.packer.console.terminal import emit

    if json_mode:
        documents.print_json({"schema_version": documents.SCHEMA_VERSION, **event})
    elif event["action"] == "promote":
        emit(f"{event['build_id']} is in channel {event['channel']} (promoted by {event['who']} at {event['at']})")
    else:
        emit(f"{event['build_id']} revoked by {event['who']} at {event['at']}: {event['reason']}")


@artifacts_app.command("promote")
def artifacts_promote(ctx: typer.Context, build_id: str,
                      channel: Annotated[str, typer.Option("--channel", help="e.g. dev, prod")],
                      json_mode: JsonOpt = False) -> None:
    """Put a build in a channel (recorded with who and when); promoting it again changes nothing."""
    _event_out(_write(ctx, json_mode, lambda s: s.promote(build_id, channel, who())), json_mode)
    exit_with(ExitCode.OK)


@artifacts_app.command("revoke")
def artifacts_revoke(ctx: typer.Context, build_id: str,
                     reason: Annotated[str, typer.Option("--reason", help="why, for whoever finds it revoked")],
                     json_mode: JsonOpt = False) -> None:
    """Revoke a build for good: 'latest' never returns it again, it leaves every channel."""
    _event_out(_write(ctx, json_mode, lambda s: s.revoke(build_id, reason, who())), json_mode)
    exit_with(ExitCode.OK)
