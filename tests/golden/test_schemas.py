"""The published JSON Schemas match the models: renaming or retyping a field fails here first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridcore.packer import records
from hybridcore.packer.schemas import SCHEMAS, render

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_matches_model(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text()
    assert render(SCHEMAS[name], name) == committed, (
        f"schemas/{name} is stale: review the change, then run `make schemas`")


def test_artifact_schema_has_the_fixed_keys() -> None:
    schema = json.loads((SCHEMA_DIR / "artifact-record.schema.json").read_text())
    fixed = {"build_id", "target", "builder_id", "builder_type", "platform", "region", "image_ids",
             "artifact_id", "files", "packer_run_uuid", "provenance", "schema_version"}
    assert fixed <= set(schema["properties"])
    assert schema["properties"]["schema_version"]["default"] == 2  # v2 added "extra"
    assert schema["properties"]["extra"]["additionalProperties"] == {"type": "string"}
    prov = schema["$defs"]["Provenance"]["properties"]
    assert {"command_id", "git_sha", "git_dirty", "packer_version", "fingerprint", "env", "started_at",
            "finished_at"} <= set(prov)


def test_result_schema_has_the_fixed_keys() -> None:
    schema = json.loads((SCHEMA_DIR / "command-result.schema.json").read_text())
    assert {"command", "exit_code", "stdout", "stderr", "manifest_path", "artifacts", "started_at",
            "finished_at", "retryable", "targets"} <= set(schema["properties"])
    target = schema["$defs"]["TargetResult"]["properties"]
    assert {"exit_code", "packer_exit_code", "status"} <= set(target)


def test_renamed_field_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard itself: a model with a renamed field no longer renders to the committed schema."""
    import dataclasses

    renamed = dataclasses.make_dataclass("ArtifactRecord", [("image_id", str, dataclasses.field(default=""))],
                                         bases=(records.ArtifactRecord,), frozen=True, kw_only=True)
    name = "artifact-record.schema.json"
    assert render(renamed, name) != (SCHEMA_DIR / name).read_text()
