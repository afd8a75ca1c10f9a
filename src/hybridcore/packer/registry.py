"""The artifact registry: one ``artifacts/<build_id>.json`` per image, mirrored into ``hybridcore.state``.

Records are written atomically (temp + rename) so a reader never sees half a record, and are redacted
like everything else the wrapper writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.logs import now_iso
from hybridcore.packer import artifacts as artmod
from hybridcore.packer import records as rec
from hybridcore.packer.files import atomic_write_json

if TYPE_CHECKING:
    from hybridcore.packer.api import _AttemptResult, _Command
    from hybridcore.packer.fingerprint import Fingerprint
    from hybridcore.packer.plan import TargetPlan


def new_build_id() -> str:
    from hybridcore.ids import new_ulid

    return new_ulid()


def record_artifacts(cmd: _Command, plan: TargetPlan, attempt: _AttemptResult,
                     fingerprint: Fingerprint | None) -> list[rec.ArtifactRecord]:
    from hybridcore.packer.artifact_facts import builder_type_for, describe

    git_sha, git_dirty = artmod.git_state(plan.cwd)
    variables = artmod.template_vars(plan.info, plan.split.plain)
    provenance = rec.Provenance(
        command_id=cmd.command_id, git_sha=git_sha, git_dirty=git_dirty, packer_version=cmd.packer.version,
        fingerprint=fingerprint.digest if fingerprint else None, env=cmd.env,
        started_at=attempt.outcome.started_at.isoformat(), finished_at=attempt.outcome.finished_at.isoformat(),
    )
    run_uuid = (attempt.manifest or {}).get("last_run_uuid")
    out: list[rec.ArtifactRecord] = []
    target = plan.target
    for raw in attempt.raw_artifacts:
        builder_type = plan.info.builder_type(raw.build_name) if plan.info else ""
        source: dict[str, Any] = dict(plan.info.source_attrs(raw.build_name)) if plan.info else {}
        source["__vars__"] = variables
        facts = describe(raw, builder_type, source)
        # Local builders name files relative to where Packer ran; records must be usable from anywhere.
        image_ids = [str(plan.cwd / i) if i in raw.files and not Path(i).is_absolute() else i
                     for i in facts.image_ids]
        record = rec.ArtifactRecord(
            build_id=new_build_id(), target=target.name, build_name=raw.build_name,
            builder_id=raw.builder_id, builder_type=builder_type or builder_type_for(raw.builder_id) or "unknown",
            platform=target.platform or facts.platform, region=target.region or facts.region,
            image_ids=image_ids, artifact_id=raw.id,
            files=[rec.ArtifactFile(name=str(plan.cwd / f["name"]), size=f["size"])
                   for f in artmod.file_entries(raw.files, plan.cwd)],
            packer_run_uuid=run_uuid, provenance=provenance,
        )
        data = plan.redactor.value(record.to_dict())
        record = rec.ArtifactRecord.model_validate(data)
        path = cmd.project.artifacts_dir / f"{record.build_id}.json"
        atomic_write_json(path, data)
        cmd.state.record_artifact(data)
        cmd.events.event(target.name, "artifact", build_id=record.build_id, path=str(path),
                         builder_id=record.builder_id, image_ids=record.image_ids, at=now_iso())
        out.append(record)
    return out
