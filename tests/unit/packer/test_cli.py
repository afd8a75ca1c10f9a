"""The CLI: exit codes from DESIGN.md and no traceback for a user mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.conftest import ARTIFACT_OUT, FakePacker

CLI = [sys.executable, "-m", "hybridcore.packer.cli"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd)


def test_version() -> None:
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("hybridcore-packer ")


@pytest.mark.parametrize(("args", "needle"), [
    (["validate", "nope"], "unknown target 'nope'"),
    (["validate", "web", "--var", "novalue"], "malformed --var"),
    (["validate", "templates/none.pkr.hcl"], "template not found"),
    (["build", "web", "--var-file", "missing.pkrvars.hcl"], "var file not found"),
])
def test_bad_input_exit_2_without_traceback(fake_packer: FakePacker, project: Path, args: list[str],
                                            needle: str) -> None:
    out = cli(*args, cwd=project)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "hint:" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert fake_packer.calls("validate") == [] and fake_packer.calls("build") == []


def test_corrupt_state_is_a_clear_error_and_is_kept(fake_packer: FakePacker, project: Path) -> None:
    state = project / ".hybridcore" / "state.db"
    state.parent.mkdir()
    state.write_bytes(b"this is not a database" * 100)
    out = cli("validate", "web", cwd=project)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "state" in out.stderr.lower() and "hint:" in out.stderr
    assert state.read_bytes() == b"this is not a database" * 100
    assert fake_packer.calls("validate") == []


def test_packer_missing_exit_2(project: Path) -> None:
    env = {"PATH": "/nonexistent", "HOME": str(project)}
    out = subprocess.run([*CLI, "validate", "web"], capture_output=True, text=True, cwd=project, env=env)
    assert out.returncode == 2 and "packer not found" in out.stderr and "Traceback" not in out.stderr


def test_json_response_and_exit_codes(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", build=[
        {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n", "exit": 1},
        {"stdout": "1700000000,,ui,error,Error: Unsupported argument\n", "exit": 1},
        {"stdout": ARTIFACT_OUT}])
    assert cli("validate", "web", cwd=project).returncode == 0
    retryable = cli("build", "web", "--json", cwd=project)
    assert retryable.returncode == 75
    body = json.loads(retryable.stdout)
    assert body["retryable"] is True and body["classification"]["category"] == "throttling"
    # exit_code in the JSON is the process's exit code; Packer's own is beside it.
    assert body["exit_code"] == 75 and body["targets"][0]["exit_code"] == 75
    assert body["targets"][0]["packer_exit_code"] == 1
    hard = cli("build", "web", cwd=project)
    assert hard.returncode == 1 and "hint:" in hard.stderr and "template-syntax" in hard.stderr
    ok = cli("build", "web", "--json", cwd=project)
    assert ok.returncode == 0 and json.loads(ok.stdout)["artifacts"][0]["builder_id"] == "packer.file"


def test_drift_exit_4_and_runs_listing(fake_packer: FakePacker, project: Path) -> None:
    assert cli("drift", "web", cwd=project).returncode == 4
    assert cli("build", "web", cwd=project).returncode == 4
    assert cli("validate", "web", cwd=project).returncode == 0
    assert cli("drift", "web", cwd=project).returncode == 0
    runs = json.loads(cli("runs", "--json", cwd=project).stdout)
    assert [r["status"] for r in runs[:2]] == ["ok", "refused"]
    shown = json.loads(cli("runs", "show", runs[0]["id"], cwd=project).stdout)
    assert shown["kind"] == "validate"


def test_artifacts_listing_and_github_output(fake_packer: FakePacker, project: Path, tmp_path: Path) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    cli("validate", "web", cwd=project)
    assert cli("build", "web", cwd=project).returncode == 0
    gh = tmp_path / "gh_output"
    listed = cli("artifacts", "--json", "--github-output", str(gh), cwd=project)
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["target"] == "web"
    text = gh.read_text()
    assert text.startswith("artifacts<<ghadelim_") and rows[0]["build_id"] in text
    assert "image_ids_web<<" in text
    one = json.loads(cli("artifacts", "show", rows[0]["build_id"][:12], cwd=project).stdout)
    assert one["build_id"] == rows[0]["build_id"]


def test_fmt_check_exit_3(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", fmt={"stdout": "web.pkr.hcl\n", "exit": 3})
    assert cli("fmt", "--check", "web", cwd=project).returncode == 3


def test_runs_show_command_id_lists_every_target(fake_packer: FakePacker, project: Path) -> None:
    out = cli("validate", "web", "other", "--json", cwd=project)
    command_id = json.loads(out.stdout)["command_id"]
    rows = json.loads(cli("runs", "show", command_id, cwd=project).stdout)
    assert sorted(r["target"] for r in rows) == ["other", "web"]


def test_unwritable_state_folder_is_a_clear_error(fake_packer: FakePacker, project: Path) -> None:
    (project / ".hybridcore").write_text("a file where the state folder should be")
    out = cli("validate", "web", cwd=project)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "hint:" in out.stderr and ".hybridcore" in out.stderr
