"""The records hybridcore returns and writes, as pydantic models: the single source of their JSON Schemas.

``CommandResult`` is the response object of every wrapper; ``ArtifactRecord`` is one
``artifacts/<build_id>.json``. Both are frozen; ``to_dict()`` gives plain JSON types. Status and
Classification are the plain types the runner produces (``status.Status``, ``classify.Classification``),
used here as they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hybridcore.packer.classify import Classification
from hybridcore.packer.status import Status

# v2: ``extra`` (builder-specific detail: every AMI region, gallery image version, vSphere cluster...).
ARTIFACT_SCHEMA_VERSION = 2
RESULT_SCHEMA_VERSION = 1


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
    extra: dict[str, str] = Field(default_factory=dict, description=(
        "builder-specific detail, e.g. regions (every AMI region), gallery image versions, vSphere "
        "cluster and datastore"))


_EXIT_CODE = "the exit code hybridcore reports for this (DESIGN.md table: 0 ok, 1 hard stop, 3 unformatted, " \
             "75 retryable, 130 interrupted); Packer's own is packer_exit_code"
_ERRORS = "Packer's own error messages, parsed from its output (each once, redacted)"
_PACKER_EXIT_CODE = "what Packer itself exited with (the worst of its steps); null if it never ran"


class Attempt(_Frozen):
    attempt: int
    exit_code: int = Field(description=_EXIT_CODE)
    packer_exit_code: int | None = Field(default=None, description=_PACKER_EXIT_CODE)
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
    exit_code: int = Field(description=_EXIT_CODE)
    packer_exit_code: int | None = Field(default=None, description=_PACKER_EXIT_CODE)
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
    errors: list[str] = Field(default=[], description=_ERRORS)


class CommandResult(_Frozen):
    schema_version: int = RESULT_SCHEMA_VERSION
    command: str = Field(description="fmt | validate | build")
    command_id: str
    env: str
    packer_version: str
    exit_code: int = Field(description="the process exit code: 0 when every target succeeded, else the code of "
                           "the worst target (interrupted > hard stop > retryable > unformatted)")
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
    errors: list[str] = Field(default=[], description=_ERRORS)
    run_dir: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0
