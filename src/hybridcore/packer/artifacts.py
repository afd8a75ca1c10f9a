"""From Packer's artifact lines to a manifest and to artifact records (``artifacts/<build_id>.json``).

The manifest follows Packer's own manifest post-processor schema so tools that read one read the other;
it exists whether or not the template has a manifest post-processor. Artifact records add what
downstream publishing needs: platform, region, image IDs, builder detail (``extra``) and provenance.
Everything here takes plain values and returns them; ``results`` writes them.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.ids import new_ulid
from hybridcore.packer.config import Target
from hybridcore.packer.machine_readable import RawArtifact
from hybridcore.packer.secrets import Redactor
from hybridcore.packer.templates import TemplateInfo, interpolate

if TYPE_CHECKING:
    from hybridcore.packer.records import ArtifactRecord, Provenance


def distinct(raw: Iterable[RawArtifact]) -> list[RawArtifact]:
    """Post-processors that pass an artifact through (manifest, checksum) re-announce it; keep one."""
    seen: set[tuple[str, str, str, tuple[str, ...]]] = set()
    out: list[RawArtifact] = []
    for art in raw:
        key = (art.build_name, art.builder_id, art.id, art.files)
        if key not in seen:
            seen.add(key)
            out.append(art)
    return out


def _absolute(name: str, cwd: Path) -> str:
    """A file Packer named relative to where it ran, made absolute without rewriting the name itself
    (pathlib would fold ``http://x`` inside a file name into ``http:/x``)."""
    if os.path.isabs(name):
        return name
    return os.path.join(str(cwd), name[2:] if name.startswith("./") else name)


def file_entries(files: Sequence[str], workdir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in files:
        path = Path(name) if Path(name).is_absolute() else workdir / name
        try:
            size: int | None = path.stat().st_size
        except OSError:
            size = None
        out.append({"name": name, "size": size})
    return out


def build_manifest(raw: Sequence[RawArtifact], info: TemplateInfo | None, workdir: Path,
                   run_uuid: str) -> dict[str, Any]:
    builds = []
    for art in distinct(raw):
        builder_type = info.builder_type(art.build_name) if info else art.build_name.split(".", 1)[0]
        builds.append({
            "name": art.build_name.split(".", 1)[1] if "." in art.build_name else art.build_name,
            "builder_type": builder_type,
            "build_time": art.timestamp,
            "files": file_entries(art.files, workdir),
            "artifact_id": art.id,
            "packer_run_uuid": run_uuid,
            "custom_data": {},
        })
    return {"builds": builds, "last_run_uuid": run_uuid}


def manifest_pp_outputs(info: TemplateInfo | None, variables: Mapping[str, str]) -> list[Path]:
    """Where the template's own manifest post-processors write, when the path can be resolved."""
    if info is None:
        return []
    out: list[Path] = []
    for raw in info.manifest_outputs:
        resolved = interpolate(raw or "packer-manifest.json", info.workdir, variables)
        if resolved:
            path = Path(resolved)
            out.append(path if path.is_absolute() else info.workdir / path)
    return out


@functools.lru_cache(maxsize=64)
def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """HEAD and dirtiness of the repository holding ``folder``; (None, None) outside git."""
    try:
        sha = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        if sha.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
        return sha.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def template_vars(info: TemplateInfo | None, plain_vars: Mapping[str, str]) -> dict[str, str]:
    """Variable values a parser may use to resolve ``${var.x}`` in source attributes (non-secret only)."""
    values: dict[str, str] = {}
    if info is not None:
        for name in info.variables:
            if name in plain_vars:
                values[name] = plain_vars[name]
    return values


def _redacted(red: Callable[[str], str], value: str | None) -> str | None:
    return None if value is None else red(value)


def artifact_records(raws: Iterable[RawArtifact], *, target: Target, info: TemplateInfo | None, cwd: Path,
                     plain_vars: Mapping[str, str], provenance: Provenance, run_uuid: str | None,
                     redactor: Redactor) -> list[ArtifactRecord]:
    """One record per artifact, redacted, each with a new build id (a ULID: sorts by creation time)."""
    # The per-builder rules load only once a build has produced something.
    from hybridcore.packer.artifact_facts import builder_type_for, describe
    from hybridcore.packer.records import ArtifactFile, ArtifactRecord

    variables = template_vars(info, plain_vars)
    out: list[ArtifactRecord] = []
    for raw in raws:
        builder_type = info.builder_type(raw.build_name) if info else ""
        source: dict[str, Any] = dict(info.source_attrs(raw.build_name)) if info else {}
        source["__vars__"] = variables
        facts = describe(raw, builder_type, source)
        # Local builders name files relative to where Packer ran; records must be usable from anywhere.
        image_ids = [_absolute(i, cwd) if i in raw.files else i for i in facts.image_ids]
        # Built field by field (typed: mypy checks every value), each string redacted except the
        # identifiers Packer reports in structured form (secrets.PACKER_IDENTIFIERS) and our build id.
        red = redactor.redact_text
        out.append(ArtifactRecord(
            build_id=new_ulid(), target=red(target.name), build_name=raw.build_name, builder_id=raw.builder_id,
            builder_type=builder_type or builder_type_for(raw.builder_id) or "unknown",
            platform=red(target.platform or facts.platform), region=_redacted(red, target.region or facts.region),
            image_ids=[red(i) for i in image_ids], artifact_id=red(raw.id),
            files=[ArtifactFile(name=red(_absolute(f["name"], cwd)), size=f["size"])
                   for f in file_entries(raw.files, cwd)],
            packer_run_uuid=_redacted(red, run_uuid), provenance=provenance,
            extra={key: red(value) for key, value in facts.extra.items()},
        ))
    return out
