"""The records hybridcore returns and writes, as pydantic models: the single source of their JSON Schemas.

``CommandResult`` is the response object of every wrapper; ``ArtifactRecord`` is one
``artifacts/<build_id>.json``. Both are frozen; ``to_dict()`` gives plain JSON types.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ARTIFACT_SCHEMA_VERSION = 1
RESULT_SCHEMA_VERSION = 1

Status = Literal["ok", "failed", "interrupted", "timeout", "unformatted", "refused"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Provenance(_Frozen):
    command_id: str = Field(description="the hybridcore command (run folder .hybridcore/runs/<command_id>)")
    git_sha: str | None = Field(description="HEAD of the git repository holding the template; null outside git")
    git_dirty: bool | None = Field(description="the repository had uncommitted changes; null outside git")
    packer_version: str
    fingerprint: str | None = Field(description="blake3 digest of the build's inputs (see drift-flow.md)")
    env: str = Field(description="HYBRIDCORE_ENV of the build")
    started_at: str
    finished_at: str


class ArtifactFile(_Frozen):
    name: str
    size: int | None = None


class ArtifactRecord(_Frozen):
    schema_version: int = ARTIFACT_SCHEMA_VERSION
    build_id: str = Field(description="ULID: unique, sorts by creation time")
    target: str
    build_name: str = Field(description="the build as Packer names it, e.g. 'vsphere-iso.base'")
    builder_id: str
    builder_type: str
    platform: str
    region: str | None
    image_ids: list[str]
    artifact_id: str = Field(description="the artifact id exactly as Packer printed it")
    files: list[ArtifactFile]
    packer_run_uuid: str | None
    provenance: Provenance


class Classification(_Frozen):
    category: str
    retryable: bool
    hint: str
    rule: str


class Attempt(_Frozen):
    attempt: int
    exit_code: int
    status: Status
    classification: Classification
    run_dir: str
    started_at: str
    finished_at: str
    signals: list[str] = []


class TargetResult(_Frozen):
    target: str
    command: str = Field(description="the Packer command line, shell-quoted, secrets redacted")
    argv: list[str]
    exit_code: int
    status: Status
    stdout: str = Field(description="last 1 MiB of stdout (redacted); full text at stdout_path")
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_path: str | None = None
    stderr_path: str | None = None
    packer_log_path: str | None = None
    manifest_path: str | None = None
    template_manifest_path: str | None = None
    run_dir: str
    artifacts: list[ArtifactRecord] = []
    started_at: str
    finished_at: str
    retryable: bool
    classification: Classification
    attempts: list[Attempt] = []
    signals: list[str] = []
    fingerprint: str | None = None


class CommandResult(_Frozen):
    schema_version: int = RESULT_SCHEMA_VERSION
    command: str = Field(description="fmt | validate | build")
    command_id: str
    env: str
    packer_version: str
    exit_code: int = Field(description="0 when every target succeeded, else the worst target's exit code")
    status: Status
    stdout: str
    stderr: str
    manifest_path: str | None
    artifacts: list[ArtifactRecord]
    started_at: str
    finished_at: str
    retryable: bool
    classification: Classification
    targets: list[TargetResult]
    warnings: list[str] = []
    run_dir: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0
