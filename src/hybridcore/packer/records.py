"""The records hybridcore returns and writes: frozen dataclasses, the single source of their JSON Schemas.

``CommandResult`` is the response object of every wrapper; ``ArtifactRecord`` is one
``artifacts/<build_id>.json``. Both are frozen; ``to_dict()`` gives plain JSON types. Status and
Classification are the plain types the runner produces (``status.Status``, ``classify.Classification``),
used here as they are.

Why stdlib dataclasses and not pydantic models: every ``validate`` and ``build`` builds these, and
importing pydantic and building its validators cost more CPU than bare ``packer validate`` itself
(issue 14, measured). The code that builds them is typed (mypy --strict), so nothing is lost at
runtime; pydantic still reads these classes, where it is worth its import: ``schemas.py`` generates the
published JSON Schemas from them (field ``metadata`` holds each description, ``__pydantic_config__`` the
``extra="forbid"``), and :func:`parse` validates a document read back from outside.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from hybridcore.packer.classify import Classification
from hybridcore.packer.status import Status

# v2: ``extra`` (builder-specific detail: every AMI region, gallery image version, vSphere cluster...).
ARTIFACT_SCHEMA_VERSION = 2
RESULT_SCHEMA_VERSION = 1

_R = TypeVar("_R", bound="_Record")


def _doc(description: str, **kwargs: Any) -> Any:
    """A field with a JSON Schema description (pydantic reads ``description`` from dataclass metadata)."""
    return field(metadata={"description": description}, **kwargs)


# ``"default": []`` in the schema, as a literal ``= []`` gave it (a dataclass needs a factory).
_LIST: dict[str, Any] = {"json_schema_extra": {"default": []}}


def plain(value: Any) -> Any:
    """``value`` as JSON types: records and other dataclasses become dicts (in field order), enums
    their values; what pydantic's ``model_dump(mode="json")`` gave, without pydantic."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"not a JSON value: {type(value).__name__}")


class _Record:
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = plain(self)
        return out


def parse(cls: type[_R], data: Any) -> _R:
    """A record validated from JSON-like ``data`` (types checked, unknown keys refused): for
    documents read back from outside. Raises ``pydantic.ValidationError``."""
    from pydantic import TypeAdapter

    return TypeAdapter(cls).validate_python(data)


@dataclass(frozen=True, kw_only=True)
class Provenance(_Record):
    command_id: str = _doc("the hybridcore command (run folder .hybridcore/runs/<command_id>)")
    git_sha: str | None = _doc("HEAD of the git repository holding the template; null outside git")
    git_dirty: bool | None = _doc("the repository had uncommitted changes; null outside git")
    packer_version: str
    fingerprint: str | None = _doc("blake3 digest of the build's inputs (see drift-flow.md)")
    env: str = _doc("HYBRIDCORE_ENV of the build")
    started_at: str
    finished_at: str


@dataclass(frozen=True, kw_only=True)
class ArtifactFile(_Record):
    name: str
    size: int | None = None


@dataclass(frozen=True, kw_only=True)
class ArtifactRecord(_Record):
    schema_version: int = ARTIFACT_SCHEMA_VERSION
    build_id: str = _doc("ULID: unique, sorts by creation time")
    target: str
    build_name: str = _doc("the build as Packer names it, e.g. 'vsphere-iso.base'")
    builder_id: str
    builder_type: str
    platform: str
    region: str | None
    image_ids: list[str]
    artifact_id: str = _doc("the artifact id exactly as Packer printed it")
    files: list[ArtifactFile]
    packer_run_uuid: str | None
    provenance: Provenance
    extra: dict[str, str] = field(default_factory=dict, metadata={"description": (
        "builder-specific detail, e.g. regions (every AMI region), gallery image versions, vSphere "
        "cluster and datastore")})


_EXIT_CODE = "the exit code hybridcore reports for this (DESIGN.md table: 0 ok, 1 hard stop, 3 unformatted, " \
             "75 retryable, 130 interrupted); Packer's own is packer_exit_code"
_ERRORS = "Packer's own error messages, parsed from its output (each once, redacted)"
_PACKER_EXIT_CODE = "what Packer itself exited with (the worst of its steps); null if it never ran"


@dataclass(frozen=True, kw_only=True)
class Attempt(_Record):
    attempt: int
    exit_code: int = _doc(_EXIT_CODE)
    packer_exit_code: int | None = _doc(_PACKER_EXIT_CODE, default=None)
    status: Status
    classification: Classification
    run_dir: str
    started_at: str
    finished_at: str
    signals: list[str] = field(default_factory=list, metadata=_LIST)


@dataclass(frozen=True, kw_only=True)
class TargetResult(_Record):
    target: str
    command: str = _doc("the Packer command line, shell-quoted, secrets redacted")
    argv: list[str]
    exit_code: int = _doc(_EXIT_CODE)
    packer_exit_code: int | None = _doc(_PACKER_EXIT_CODE, default=None)
    status: Status
    stdout: str = _doc("last 1 MiB of stdout (redacted); full text at stdout_path")
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_path: str | None = None
    stderr_path: str | None = None
    packer_log_path: str | None = None
    manifest_path: str | None = None
    template_manifest_path: str | None = None
    run_dir: str
    artifacts: list[ArtifactRecord] = field(default_factory=list, metadata=_LIST)
    started_at: str
    finished_at: str
    retryable: bool
    classification: Classification
    attempts: list[Attempt] = field(default_factory=list, metadata=_LIST)
    signals: list[str] = field(default_factory=list, metadata=_LIST)
    fingerprint: str | None = None
    errors: list[str] = field(default_factory=list, metadata={"description": _ERRORS, **_LIST})


@dataclass(frozen=True, kw_only=True)
class CommandResult(_Record):
    schema_version: int = RESULT_SCHEMA_VERSION
    command: str = _doc("fmt | validate | build")
    command_id: str
    env: str
    packer_version: str
    exit_code: int = _doc("the process exit code: 0 when every target succeeded, else the code of "
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
    warnings: list[str] = field(default_factory=list, metadata=_LIST)
    errors: list[str] = field(default_factory=list, metadata={"description": _ERRORS, **_LIST})
    run_dir: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0
