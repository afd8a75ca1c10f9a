"""Artifact records from explicit values: builder detail kept in ``extra``, secrets redacted, paths absolute."""

from __future__ import annotations

import json
from pathlib import Path

from hybridcore.packer.artifacts import artifact_records, build_manifest
from hybridcore.packer.config import Target
from hybridcore.packer.machine_readable import RawArtifact
from hybridcore.packer.records import ARTIFACT_SCHEMA_VERSION, ArtifactRecord, Provenance, parse
from hybridcore.packer.secrets import Redactor

PROVENANCE = Provenance(command_id="01CMD", git_sha=None, git_dirty=None, packer_version="1.6.6",
                        fingerprint="f" * 64, env="dev", started_at="2024-01-01T00:00:00+00:00",
                        finished_at="2024-01-01T00:01:00+00:00")


def test_multi_region_ami_keeps_every_region_in_extra(tmp_path: Path) -> None:
    raw = RawArtifact("amazon-ebs.base", 0, "mitchellh.amazonebs",
                      "eu-west-1:ami-05f3a1c2b7d9e4a61,us-east-1:ami-0c2b8ca1dad447f8a", "AMIs were created", (), 0)
    (record,) = artifact_records([raw], target=Target("aws", tmp_path / "t.pkr.hcl"), info=None, cwd=tmp_path,
                                 plain_vars={}, provenance=PROVENANCE, run_uuid="u-1", redactor=Redactor())
    assert record.schema_version == ARTIFACT_SCHEMA_VERSION == 2
    assert record.platform == "aws" and record.builder_type == "amazon-ebs"
    assert record.extra == {"regions": "eu-west-1,us-east-1"}
    assert record.to_dict()["extra"] == {"regions": "eu-west-1,us-east-1"}
    assert parse(ArtifactRecord, record.to_dict()) == record  # what is written reads back the same


def test_records_are_redacted_and_files_absolute(tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_text("hello")
    raw = RawArtifact("file.example", 0, "packer.file", "File", "Stored file: out.txt sekrit-value-9",
                      ("out.txt",), 0)
    target = Target("web", tmp_path / "t.pkr.hcl", region="sekrit-value-9")
    (record,) = artifact_records([raw], target=target, info=None, cwd=tmp_path, plain_vars={},
                                 provenance=PROVENANCE, run_uuid=None, redactor=Redactor(["sekrit-value-9"]))
    assert "sekrit-value-9" not in json.dumps(record.to_dict())
    assert record.region == "<redacted>"
    assert [(f.name, f.size) for f in record.files] == [(str(tmp_path / "out.txt"), 5)]
    assert record.image_ids == [str(tmp_path / "out.txt")]
    assert record.build_id and record.provenance == PROVENANCE


def test_manifest_is_packers_format(tmp_path: Path) -> None:
    raw = RawArtifact("file.example", 0, "packer.file", "File", "s", ("out.txt",), 1700000001)
    manifest = build_manifest([raw, raw], None, tmp_path, "u-1")  # a post-processor re-announcing it counts once
    assert manifest == {"builds": [{"name": "example", "builder_type": "file", "build_time": 1700000001,
                                    "files": [{"name": "out.txt", "size": None}], "artifact_id": "File",
                                    "packer_run_uuid": "u-1", "custom_data": {}}],
                        "last_run_uuid": "u-1"}
