"""Stored ``-machine-readable`` transcripts -> RawArtifact + ArtifactFacts, compared with reviewed JSON.

``file.txt``, ``null.txt`` and ``file-named-build.txt`` (a named ``build`` block filling in a source under a
new name: build ``app.file.app-rootfs``, a checksum post-processor after it) are real Packer 1.6.6
output captured here; the others follow the
builders' ``artifact.go`` formats. Regenerate with ``HYBRIDCORE_REGEN_GOLDEN=1 pytest -m golden`` and
review the diff before committing: the expected files are the specification, not a snapshot.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from hybridcore.packer.artifact_facts import describe
from hybridcore.packer.machine_readable import ArtifactCollector, parse_line

pytestmark = pytest.mark.golden

TRANSCRIPTS = Path(__file__).parent / "transcripts"
REGEN = os.environ.get("HYBRIDCORE_REGEN_GOLDEN") == "1"

# The template side of each transcript: the source type and its attributes as python-hcl2 would give
# them (string literals keep their quotes, expressions come as "${...}").
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "amazon-ebs": ("amazon-ebs", {"region": '"us-east-1"', "ami_name": '"hybridcore-base-${timestamp}"'}),
    "amazon-ebs-multi-region": (
        "amazon-ebs",
        {
            "region": "${var.aws_region}",
            "ami_regions": ['"eu-west-1"', '"us-west-2"'],
            "__vars__": {"aws_region": "us-east-1"},
        },
    ),
    "azure-arm-managed-image": (
        "azure-arm",
        {
            "location": '"westeurope"',
            "managed_image_resource_group_name": '"rg-images"',
            "managed_image_name": '"hybridcore-ubuntu-2004"',
        },
    ),
    "azure-arm-sig": (
        "azure-arm",
        {
            "build_resource_group_name": "${var.build_rg}",
            "shared_image_gallery_destination": [
                {
                    "resource_group": '"rg-gallery"',
                    "gallery_name": '"hybridcore_gallery"',
                    "image_name": '"ubuntu-2204"',
                    "image_version": '"1.0.0"',
                    "replication_regions": ['"westeurope"', '"northeurope"'],
                    "__is_block__": True,
                }
            ],
        },
    ),
    "vsphere-iso": (
        "vsphere-iso",
        {
            "vcenter_server": '"vcsa.dc1.example.com"',
            "datacenter": "${var.datacenter}",
            "cluster": '"DC1-C1"',
            "datastore": '"vsan-dc1"',
            "folder": '"templates"',
            "vm_name": '"tpl-rhel8-base"',
            "__vars__": {"datacenter": "DC1"},
        },
    ),
    "googlecompute": (
        "googlecompute",
        {"project_id": '"hybridcore-images"', "zone": '"europe-west1-b"', "image_family": '"debian-10"'},
    ),
    "docker": ("docker", {"image": '"debian:buster-slim"', "commit": True}),
    "qemu": ("qemu", {"disk_image": True, "output_directory": '"output-base"'}),
    "file": ("file", {"content": '"hello, world\\n"', "target": '"out/motd.txt"'}),
    # The source type, as TemplateInfo.builder_type("app.file.app-rootfs") gives it: never "app".
    "file-named-build": ("file", {"source": '"${path.root}/../files/rootfs.txt"', "target": '"output/rootfs.img"'}),
    "null": ("null", {"communicator": '"none"'}),
}


def _transcripts() -> list[Path]:
    return sorted(TRANSCRIPTS.glob("*.txt"))


def render(path: Path) -> dict[str, Any]:
    # Transcripts without a case (e.g. *.real.txt from integration runs) are read with no template
    # knowledge: the builder type then comes from the artifact's builder-id alone.
    builder_type, source = CASES.get(path.stem, ("", {}))
    collector = ArtifactCollector()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            ml = parse_line(line)
            if ml is not None:
                collector.feed(ml)
    return {
        "transcript": path.name,
        "builder_type": builder_type,
        "artifacts": [
            {
                "raw": {**dataclasses.asdict(raw), "files": list(raw.files)},
                "facts": describe(raw, builder_type, source).to_dict(),
            }
            for raw in collector.artifacts
        ],
    }


def test_every_case_has_a_transcript() -> None:
    missing = sorted(name for name in CASES if not (TRANSCRIPTS / f"{name}.txt").exists())
    assert not missing


@pytest.mark.parametrize("path", _transcripts(), ids=lambda p: p.stem)
def test_transcript_matches_expected(path: Path) -> None:
    expected_path = path.with_name(f"{path.stem}.expected.json")
    actual = render(path)
    if REGEN:
        expected_path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if not expected_path.exists():
        pytest.skip(f"no {expected_path.name}; run with HYBRIDCORE_REGEN_GOLDEN=1 and review it")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert actual == expected
    assert actual["artifacts"], "a golden transcript must contain at least one artifact"
