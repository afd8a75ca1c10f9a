"""upgrade-check with the real Packer: A vs A is clean, A vs a Packer that renames artifacts is not.

B is Debian's packer behind a wrapper that ``exec``s it with stdout rewritten by sed, so it behaves
exactly like A except for the artifact id it announces: the smallest "new release" that changes an
artifact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hybridcore.packer import upgrade as up
from hybridcore.packer.upgrade.progress import ProgressEvent, progress_line

CANARY = "upgrade-canary-Pa55w0rd-77"

WRAPPER = """\
#!/usr/bin/env bash
# Same Packer, but every artifact id it announces gets a suffix (sed -u: line by line, no buffering).
exec > >(exec sed -u -e 's/^\\([0-9]*,[^,]*,artifact,0,id,.*\\)$/\\1-modified/')
exec {real} "$@"
"""


@pytest.fixture
def real_packer() -> str:
    path = shutil.which("packer")
    assert path, "needs Debian's packer"
    return path


@pytest.fixture
def modified_packer(real_packer: str, tmp_path: Path) -> str:
    path = tmp_path / "packer-modified" / "packer"
    path.parent.mkdir()
    path.write_text(WRAPPER.format(real=real_packer))
    path.chmod(0o755)
    return str(path)


def _untouched(root: Path) -> None:
    assert not (root / ".hybridcore" / "state.db").exists()
    assert not (root / "artifacts").exists()
    assert not (root / ".hybridcore" / "cache").exists()
    assert not (root / "templates" / "local" / "out").exists()     # the build wrote in the sandboxes


def test_same_packer_twice_is_clean(real_packer: str, local_project: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HC_CANARY", CANARY)
    events: list[ProgressEvent] = []
    report = up.upgrade_check(real_packer, real_packer, ["file"], project=local_project,
                              on_progress=events.append)
    assert report.exit_code == 0, report.summary()
    # As it went: the sandbox, then fmt, validate, build of the target, for A then B, each finishing ok.
    finished = [(e.label, e.step, e.status) for e in events if e.phase == "finished"]
    assert finished == [(label, step, "ok") for label in "AB" for step in ("sandbox", "fmt", "validate", "build")]
    assert len(events) == 2 * len(finished)
    assert progress_line(events[-1]).startswith("[B 1.6.6] build file ... ok (")
    (t,) = report.targets
    assert [o.status for o in t.a] == ["ok", "ok", "ok"], report.summary()
    manifest = t.a_records["manifest"]["builds"][0]
    assert manifest["builder_type"] == "file"
    # Packer runs in the project root and names the output relative to it (path.root is relative);
    # an absolute path would be normalised to <root> so A and B compare. Never a sandbox path.
    assert all(f["name"].startswith("<root>/") or not f["name"].startswith("/") for f in manifest["files"]), manifest
    assert "template_manifest" in t.a_records          # the template's manifest post-processor ran too
    assert "1.6.6" in report.markdown_path.read_text()
    for path in (report.markdown_path, report.json_path):
        assert CANARY not in path.read_text()
    _untouched(local_project)


def test_modified_packer_difference_is_reported(real_packer: str, modified_packer: str,
                                                local_project: Path, tmp_path: Path) -> None:
    report = up.upgrade_check(real_packer, modified_packer, ["file"], project=local_project,
                              report_dir=tmp_path / "report")
    assert report.exit_code == 1, report.summary()
    (t,) = report.targets
    assert not t.outcome_mismatches, report.summary()
    changed = {d.path: (d.a, d.b) for d in t.differences}
    a_id, b_id = changed["artifacts[0].artifact_id"]
    assert b_id == f"{a_id}-modified"
    assert "artifacts[0].image_ids[0]" in changed or "manifest.builds[0].artifact_id" in changed
    assert "artifact_id" in report.summary()
    assert "-modified" in report.summary()
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert data["exit_code"] == 1
    assert data["targets"][0]["differences"]
    assert "-modified" in (tmp_path / "report" / "report.md").read_text()
    _untouched(local_project)
