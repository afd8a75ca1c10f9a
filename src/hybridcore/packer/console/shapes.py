"""The ``--json`` documents as pydantic models: the source of their published JSON Schemas.

``documents`` builds the documents as plain data (no pydantic on the way to a quick ``runs --json``);
these models describe them, ``schemas.py`` renders them into ``schemas/``, and the tests validate real
outputs against them (unknown keys forbidden), so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter

from hybridcore.packer.records import ArtifactRecord


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


_EXIT = ("the process's exit code (0 ok, 1 hard stop, 2 bad input, 3 unformatted, 4 drift, 75 retryable, "
         "130 interrupted)")


class ErrorDocument(_Doc):
    """Any command's refusal or bad input, with ``--json`` (on stdout)."""

    schema_version: Literal[1]
    error: str = Field(description="the exception class, e.g. UnknownTarget, DriftDetected, ConfigError")
    message: str
    hint: str
    exit_code: int = Field(description=_EXIT)
    diff: dict[str, Any] | None = Field(default=None, description="DriftDetected: what changed, per target")


class RunRow(_Doc):
    """One target of one command, as recorded in the state (``runs --json``: an array of these)."""

    schema_version: Literal[1]
    id: str = Field(description="<command_id>/<target slug>; accepted (or a prefix) by runs show/logs and explain")
    command_id: str
    kind: str = Field(description="fmt | validate | build | ...")
    target: str | None
    env: str | None
    argv: list[str] | None = Field(description="Packer's command line, redacted")
    status: str = Field(description="running | ok | failed | interrupted | timeout | refused | unformatted | ...")
    exit_code: int | None
    category: str | None
    retryable: bool | None
    hint: str | None
    started_at: str | None
    finished_at: str | None
    run_dir: str | None
    attempt: int


class RunsList(RootModel[list[RunRow]]):
    """``runs --json``: newest first."""


class RunsShow(_Doc):
    """``runs show ID --json``: the same shape for a command id, a target id or a prefix."""

    schema_version: Literal[1]
    command_id: str
    kind: str
    env: str | None
    status: str = Field(description="the deciding target's status; running while any target runs")
    exit_code: int | None = Field(description="the command's exit code from the targets shown; null while running")
    started_at: str | None
    finished_at: str | None
    run_dir: str | None = Field(description="the command's folder .hybridcore/runs/<command_id>")
    targets: list[RunRow]


class RunsPrune(_Doc):
    schema_version: Literal[1]
    removed: list[str] = Field(description="command ids whose run folder and log were removed")
    freed_bytes: int
    kept: int


class ArtifactsList(RootModel[list[ArtifactRecord]]):
    """``artifacts --json``: records, newest first."""


class RegistryEvent(_Doc):
    """One promotion or revocation as the state records it."""

    id: str
    build_id: str
    action: Literal["promote", "revoke"]
    channel: str | None
    reason: str | None
    who: str = Field(description="user@host, or the CI job (actor, repository, run id)")
    at: str


@dataclass(frozen=True, kw_only=True)
class ArtifactShow(ArtifactRecord):
    """``artifacts show ID --json``: the record, its channels and revocation, and their history."""

    # A dataclass like the record it extends (records.py: no pydantic on the build path).
    channels: list[str] = field(metadata={"description": "channels the build is in (none once revoked)"})
    revocation: RegistryEvent | None
    history: list[RegistryEvent] = field(metadata={"description": "every promote/revoke, oldest first"})


class ArtifactEvent(RegistryEvent):
    """``artifacts promote|revoke --json``: the event recorded (the earlier one when nothing changed)."""

    schema_version: Literal[1]


class Terraform(RootModel[dict[str, str]]):
    """``artifacts latest --terraform``: a flat object of strings (build_id, image_id, image_ids, platform,
    region, ...), the only shape Terraform's external data source accepts."""


class CacheEntry(_Doc):
    schema_version: Literal[1]
    entry: str = Field(description="file name in the cache folder (Packer's naming)")
    size: int = Field(description="bytes")
    url: str | None
    checksum: str | None
    last_used: float | None = Field(description="Unix time")
    tracked: bool = Field(description="recorded in hybridcore's index")


class CacheList(RootModel[list[CacheEntry]]):
    """``cache ls --json``."""


class CacheVerified(CacheEntry):
    ok: bool
    problem: str | None


class CacheVerify(RootModel[list[CacheVerified]]):
    """``cache verify --json`` (exit 1 when any entry is not ok)."""


class CachePrune(_Doc):
    schema_version: Literal[1]
    cache_dir: str
    removed: list[str]
    freed_bytes: int


class DriftTarget(_Doc):
    target: str
    env: str
    clean: bool
    untrusted: bool = Field(description="never validated in this env")
    digest: str
    trusted_digest: str | None
    diff: dict[str, Any]
    warnings: list[str] = Field(default_factory=list, description="inputs drift cannot see (computed paths)")


class Drift(_Doc):
    """``drift --json``."""

    schema_version: Literal[1]
    exit_code: int = Field(description=_EXIT)
    targets: list[DriftTarget]


class PlanTarget(_Doc):
    target: str
    state: Literal["current", "build", "drift", "untrusted"]
    reason: str


class Plan(_Doc):
    """``plan --json``."""

    schema_version: Literal[1]
    targets: list[PlanTarget]


class MatrixItem(_Doc):
    target: str


class Matrix(_Doc):
    """``plan --matrix``: a GitHub Actions matrix (no schema_version: Actions reads it as it is)."""

    include: list[MatrixItem]


class Explain(_Doc):
    """``explain RUN_ID --json``."""

    schema_version: Literal[1]
    run_id: str
    target: str | None
    status: str | None
    exit_code: int | None
    rule: str
    category: str
    retryable: bool
    hint: str
    evidence: list[str]
    outweighed: list[str]
    source: str
    retry: str = Field(description="what a retry would do, in one sentence")
    next_delay: float | None
    errors: list[str] = Field(description="Packer's own error messages")


class Init(_Doc):
    schema_version: Literal[1]
    config_path: str
    targets: list[str]
    gitignore_added: list[str]


class UpgradeCheck(_Doc):
    """``upgrade-check --json``; the nested objects are described in specs/hybridcore-packer/upgrades.md."""

    schema_version: Literal[1]
    id: str
    created_at: str
    project_root: str
    exit_code: int = Field(description=_EXIT)
    clean: bool
    pin: str | None
    from_: dict[str, Any] = Field(alias="from")
    to: dict[str, Any]
    targets: list[dict[str, Any]]
    signoffs: list[dict[str, Any]]
    notes: list[str]
    report: dict[str, str]
    sandboxes: list[str]


SHAPES: dict[str, type[Any]] = {
    "error.schema.json": ErrorDocument,
    "runs.schema.json": RunsList,
    "runs-show.schema.json": RunsShow,
    "runs-prune.schema.json": RunsPrune,
    "artifacts.schema.json": ArtifactsList,
    "artifact-show.schema.json": ArtifactShow,
    "artifact-event.schema.json": ArtifactEvent,
    "artifacts-latest-terraform.schema.json": Terraform,
    "cache-ls.schema.json": CacheList,
    "cache-verify.schema.json": CacheVerify,
    "cache-prune.schema.json": CachePrune,
    "drift.schema.json": Drift,
    "plan.schema.json": Plan,
    "plan-matrix.schema.json": Matrix,
    "explain.schema.json": Explain,
    "init.schema.json": Init,
    "upgrade-check.schema.json": UpgradeCheck,
}


def check(name: str, document: Any) -> None:
    """Raise ``pydantic.ValidationError`` unless ``document`` has the shape ``schemas/<name>`` publishes."""
    TypeAdapter(SHAPES[name]).validate_python(document)
