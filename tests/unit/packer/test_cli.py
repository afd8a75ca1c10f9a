"""The CLI: exit codes from DESIGN.md, no traceback for a user mistake, one JSON shape per output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.unit.conftest import ARTIFACT_OUT, FakePacker
from tests.unit.packer.cli_helpers import CLI, cli, run


def test_version() -> None:
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("hybridcore-packer ")


@pytest.mark.parametrize(("args", "needle"), [
    (["validate", "nope"], "unknown target 'nope'"),
    (["validate", "web", "--var", "novalue"], "malformed --var"),
    (["validate", "templates/none.pkr.hcl"], "template not found"),
    (["build", "web", "--var-file", "missing.pkrvars.hcl"], "var file not found"),
    (["build", "web", "--secret", "password=HC_UNSET_ENV_VAR"], "HC_UNSET_ENV_VAR is not set"),
    # The option the user typed is named, and its text (maybe a value typed by mistake) is not echoed.
    (["build", "web", "--secret", "hunter2hunter2"], "malformed --secret: expected NAME=ENV_VAR"),
    (["build", "web", "--secret", "password="], "malformed --secret password=: expected NAME=ENV_VAR"),
])
def test_bad_input_exit_2_without_traceback(fake_packer: FakePacker, project: Path, args: list[str],
                                            needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, *args)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "hint:" in out.stderr
    assert out.stdout == ""
    if "--secret" in args:
        assert "hunter2" not in out.stderr and "--var " not in out.stderr
    assert fake_packer.calls("validate") == [] and fake_packer.calls("build") == []


def test_bad_input_with_json_is_one_json_document_on_stdout(fake_packer: FakePacker, project: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "validate", "nope", "--json")
    body = json.loads(out.stdout)
    assert out.returncode == 2 and body["exit_code"] == 2 and body["schema_version"] == 1
    assert body["error"] == "UnknownTarget" and "nope" in body["message"] and body["hint"]
    assert out.stderr == ""


def test_no_project_says_so_and_names_minus_c(fake_packer: FakePacker, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    out = run(capsys, "validate", "web")
    assert out.returncode == 2
    assert f"no hybridcore.toml found in {empty} or its parents; use -C" in out.stderr
    for args in (["validate"], ["build"], ["drift"], ["plan"], ["fmt", "--check"]):  # no target named at all
        out = run(capsys, *args)
        assert out.returncode == 2 and f"no hybridcore.toml found in {empty} or its parents" in out.stderr, args
    matrix = json.loads(run(capsys, "plan", "--matrix").stdout)
    assert matrix["exit_code"] == 2 and "hybridcore-packer init" in matrix["hint"]


def test_corrupt_state_is_a_clear_error_and_is_kept(fake_packer: FakePacker, project: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    state = project / ".hybridcore" / "state.db"
    state.parent.mkdir()
    state.write_bytes(b"this is not a database" * 100)
    out = run(capsys, "validate", "web")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "state" in out.stderr.lower() and "hint:" in out.stderr
    assert state.read_bytes() == b"this is not a database" * 100
    assert fake_packer.calls("validate") == []


def test_packer_missing_exit_2(project: Path) -> None:
    env = {"PATH": "/nonexistent", "HOME": str(project)}
    out = subprocess.run([*CLI, "validate", "web"], capture_output=True, text=True, cwd=project, env=env)
    assert out.returncode == 2 and "packer not found" in out.stderr and "Traceback" not in out.stderr


def test_json_response_exit_codes_and_packer_errors(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", build=[
        {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n", "exit": 1},
        {"stdout": "1700000000,,ui,error,Error: Unsupported argument\n"
                   "1700000000,file.example,error,Unsupported argument named foo\n", "exit": 1},
        {"stdout": ARTIFACT_OUT}])
    assert cli("validate", "web", cwd=project).returncode == 0
    retryable = cli("build", "web", "--json", cwd=project)
    assert retryable.returncode == 75
    body = json.loads(retryable.stdout)
    assert body["retryable"] is True and body["classification"]["category"] == "throttling"
    # exit_code in the JSON is the process's exit code; Packer's own is beside it.
    assert body["exit_code"] == 75 and body["targets"][0]["exit_code"] == 75
    assert body["targets"][0]["packer_exit_code"] == 1
    assert body["errors"] == ["Error: RequestLimitExceeded: Request limit exceeded."]
    assert body["targets"][0]["errors"] == body["errors"]
    hard = cli("build", "web", cwd=project)
    assert hard.returncode == 1 and "hint:" in hard.stderr and "template-syntax" in hard.stderr
    # Packer's own error is in the summary, not only "see stdout.log".
    assert "error: file.example: Unsupported argument named foo" in hard.stderr
    assert "exit 1" in hard.stderr.splitlines()[-1]
    assert "runs logs " in hard.stderr and "<command_id>" not in hard.stderr
    ok = cli("build", "web", "--json", cwd=project)
    assert ok.returncode == 0 and json.loads(ok.stdout)["artifacts"][0]["builder_id"] == "packer.file"


def test_json_mode_still_says_what_the_wrapper_does_on_stderr(fake_packer: FakePacker, project: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build=[
        {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n", "exit": 1},
        {"stdout": ARTIFACT_OUT}])
    run(capsys, "validate", "web")
    out = run(capsys, "build", "web", "--retries", "1", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["exit_code"] == 0  # stdout: the document alone
    assert "attempt 1/2 failed (throttling, retryable); retrying in" in out.stderr
    assert "RequestLimitExceeded" not in out.stderr and "Running local shell script" not in out.stderr


def test_drift_plan_and_runs(fake_packer: FakePacker, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    never = run(capsys, "build", "web")
    assert never.returncode == 4 and "never validated in env 'dev'" in never.stderr
    assert "inputs differ" not in never.stderr
    drift = run(capsys, "drift", "web", "--json")
    body = json.loads(drift.stdout)
    assert drift.returncode == 4 == body["exit_code"] and body["targets"][0]["untrusted"] is True
    plan = json.loads(run(capsys, "plan", "--json").stdout)
    assert plan == {"schema_version": 1, "targets": [
        {"target": "web", "state": "untrusted", "reason": "never validated in env 'dev'"},
        {"target": "other", "state": "untrusted", "reason": "never validated in env 'dev'"}]}
    assert run(capsys, "validate", "web").returncode == 0
    assert run(capsys, "drift", "web").returncode == 0
    states = {t["target"]: t["state"] for t in json.loads(run(capsys, "plan", "--json").stdout)["targets"]}
    assert states == {"web": "build", "other": "untrusted"}
    assert json.loads(run(capsys, "plan", "--matrix").stdout) == {"include": [{"target": "web"}]}
    (project / "templates" / "web" / "scripts" / "setup.sh").write_text("#!/bin/sh\necho changed\n")
    states = {t["target"]: t["state"] for t in json.loads(run(capsys, "plan", "--json").stdout)["targets"]}
    assert states["web"] == "drift"
    assert json.loads(run(capsys, "plan", "--matrix").stdout) == {"include": []}
    rows = json.loads(run(capsys, "runs", "--json").stdout)
    assert [r["status"] for r in rows[:2]] == ["ok", "refused"]
    assert all(r["schema_version"] == 1 and r["command_id"] == r["id"].split("/")[0] for r in rows)


def test_plan_current_after_a_build(fake_packer: FakePacker, project: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    assert run(capsys, "validate", "web").returncode == 0
    assert run(capsys, "build", "web").returncode == 0
    assert run(capsys, "validate", "web").returncode == 0  # trust by validate again: the artifact still counts
    web = json.loads(run(capsys, "plan", "web", "--json").stdout)["targets"][0]
    assert web["state"] == "current" and web["reason"].startswith("built as ")


def test_runs_show_one_shape_for_command_target_and_prefix(fake_packer: FakePacker, project: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "validate", "web", "other", "--json")
    command_id = json.loads(out.stdout)["command_id"]
    whole = json.loads(run(capsys, "runs", "show", command_id, "--json").stdout)
    by_prefix = json.loads(run(capsys, "runs", "show", command_id[:20], "--json").stdout)
    one = json.loads(run(capsys, "runs", "show", f"{command_id}/web", "--json").stdout)
    assert whole == by_prefix
    assert sorted(t["target"] for t in whole["targets"]) == ["other", "web"]
    assert set(one) == set(whole) and [t["target"] for t in one["targets"]] == ["web"]
    assert whole["schema_version"] == 1 and whole["command_id"] == command_id and whole["exit_code"] == 0


def test_runs_show_unknown_is_text_on_stderr_without_json(fake_packer: FakePacker, project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "validate", "web")
    out = run(capsys, "runs", "show", "nope")
    assert out.returncode == 2 and out.stdout == "" and "no run 'nope'" in out.stderr
    as_json = run(capsys, "runs", "show", "nope", "--json")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["exit_code"] == 2


def test_runs_show_markdown_and_step_summary(fake_packer: FakePacker, project: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    body = json.loads(run(capsys, "validate", "web", "--json").stdout)
    written = summary.read_text()
    assert "| web |" in written and body["command_id"] in written
    shown = run(capsys, "runs", "show", body["command_id"], "--markdown")
    assert shown.returncode == 0 and "| web |" in shown.stdout and "```mermaid" in shown.stdout


def test_step_summary_write_failure_is_a_warning(fake_packer: FakePacker, project: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no" / "such" / "folder" / "summary.md"))
    out = run(capsys, "validate", "web")
    assert out.returncode == 0 and "warning: could not write the step summary" in out.stderr


def test_runs_logs_are_packer_ui_text(fake_packer: FakePacker, project: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT + "1700000002,,ui,error,it%!(PACKER_COMMA) broke\n",
                                               "stderr": "plugin noise\n"})
    run(capsys, "validate", "web", "other")
    built = json.loads(run(capsys, "build", "web", "other", "--json").stdout)
    logs = run(capsys, "runs", "logs", built["command_id"], "--target", "web")
    assert logs.returncode == 0
    assert "==> file.example: Running local shell script" in logs.stdout
    assert "it, broke" in logs.stdout and "PACKER_COMMA" not in logs.stdout and "plugin noise" in logs.stdout
    assert "artifact,0" not in logs.stdout
    both = run(capsys, "runs", "logs", built["command_id"])
    assert "web   | it, broke" in both.stdout and "other | it, broke" in both.stdout


def test_explain_a_failed_run(fake_packer: FakePacker, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build={
        "stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n", "exit": 1})
    run(capsys, "validate", "web")
    built = json.loads(run(capsys, "build", "web", "--json").stdout)
    doc = json.loads(run(capsys, "explain", built["command_id"], "--json").stdout)
    assert doc["schema_version"] == 1 and doc["category"] == "throttling" and doc["retryable"] is True
    assert doc["rule"] and any("RequestLimitExceeded" in e for e in doc["evidence"])
    assert doc["errors"] == ["Error: RequestLimitExceeded: Request limit exceeded."]
    text = run(capsys, "explain", built["command_id"][:16])
    assert text.returncode == 0 and "retry:" in text.stdout and "throttling" in text.stdout


def test_explain_a_successful_run_says_so(fake_packer: FakePacker, project: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    run(capsys, "validate", "web", "other")
    built = json.loads(run(capsys, "build", "web", "other", "--json").stdout)
    both = run(capsys, "explain", built["command_id"])
    assert both.returncode == 2 and "names 2 targets, all of which succeeded" in both.stderr
    assert "did not succeed" not in both.stderr and f"{built['command_id']}/web" in both.stderr
    one = run(capsys, "explain", f"{built['command_id']}/web")
    assert one.returncode == 0 and "category: ok, rule exit-0" in one.stdout
    assert "hard stop" not in one.stdout and "hint:" not in one.stdout


def test_a_failed_targets_hint_names_its_run_id(fake_packer: FakePacker, project: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build={
        "stdout": "1700000000,,ui,error,Build 'file.example' errored after 1 second: Script exited with "
                  "non-zero exit status: 3.Allowed exit codes are: [0]\n", "exit": 1})
    run(capsys, "validate", "web")
    built = run(capsys, "build", "web")
    assert built.returncode == 1 and "provisioner" in built.stderr
    run_id = next(line.split()[-1] for line in built.stderr.splitlines() if line.startswith("  logs: "))
    assert "RUN_ID" not in built.stderr and f"runs logs {run_id}`" in " ".join(built.stderr.split())
    why = run(capsys, "explain", run_id)
    assert "RUN_ID" not in why.stdout and run_id in why.stdout
    shown = run(capsys, "runs", "show", run_id)
    assert "RUN_ID" not in shown.stdout and f"  logs: hybridcore-packer runs logs {run_id}" in shown.stdout
    assert f"  why:  hybridcore-packer explain {run_id}" in shown.stdout
    assert f"  files: {project / '.hybridcore' / 'runs' / run_id}" in shown.stdout


def test_artifacts_listing_and_github_output(fake_packer: FakePacker, project: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    run(capsys, "validate", "web")
    assert run(capsys, "build", "web").returncode == 0
    gh = tmp_path / "gh_output"
    rows = json.loads(run(capsys, "artifacts", "--json", "--github-output", str(gh)).stdout)
    assert len(rows) == 1 and rows[0]["target"] == "web" and rows[0]["schema_version"] == 2
    text = gh.read_text()
    assert text.startswith("artifacts<<ghadelim_") and rows[0]["build_id"] in text
    assert "image_ids_web<<" in text
    one = json.loads(run(capsys, "artifacts", "show", rows[0]["build_id"][:12], "--json").stdout)
    assert one["build_id"] == rows[0]["build_id"]
    human = run(capsys, "artifacts", "show", rows[0]["build_id"][:12])
    assert human.stdout.startswith("build_id") and "file" in human.stdout
    missing = run(capsys, "artifacts", "show", "ZZZZ")
    assert missing.returncode == 2 and missing.stdout == "" and "no artifact 'ZZZZ'" in missing.stderr


def test_fmt_check_exit_3_and_fmt_names_rewritten_files(fake_packer: FakePacker, project: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", fmt={"stdout": "web.pkr.hcl\n", "exit": 3})
    check = run(capsys, "fmt", "--check", "web")
    assert check.returncode == 3 and "1 file needs formatting: web.pkr.hcl" in check.stderr and "--diff" in check.stderr
    fake_packer.script(version="1.6.6", fmt={"stdout": "web.pkr.hcl\n", "exit": 0})
    out = run(capsys, "fmt", "web")
    assert out.returncode == 0 and "web: fmt rewrote web.pkr.hcl" in out.stderr and "fmt ok" not in out.stderr
    fake_packer.script(version="1.6.6", fmt={"stdout": "", "exit": 0})
    assert "web: already formatted" in run(capsys, "fmt", "web").stderr


def test_secret_option_reads_the_environment(fake_packer: FakePacker, project: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # A variable no var file sets: a secret set in a var file takes that value, and "dc1" is too short.
    monkeypatch.setenv("HC_TEST_REGION_VALUE", "secret-region-value")
    out = run(capsys, "validate", "web", "--secret", "api_key=HC_TEST_REGION_VALUE", "--json")
    assert out.returncode == 0, out.stdout
    call = fake_packer.calls("validate")[-1]
    assert "secret-region-value" not in " ".join(call["argv"])
    assert "secret-region-value" not in out.stdout


def test_on_error_is_passed_to_packer(fake_packer: FakePacker, project: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "validate", "web")
    assert run(capsys, "build", "web", "--on-error", "abort").returncode == 0
    assert "-on-error=abort" in fake_packer.calls("build")[-1]["argv"]
    bad = run(capsys, "build", "web", "--on-error", "ask")
    assert bad.returncode == 2 and len(fake_packer.calls("build")) == 1


def test_runs_prune_and_keep(fake_packer: FakePacker, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [json.loads(run(capsys, "validate", "web", "--json").stdout)["command_id"] for _ in range(3)]
    runs_dir = project / ".hybridcore" / "runs"
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted(ids)
    pruned = json.loads(run(capsys, "runs", "prune", "--older-than", "0", "--json").stdout)
    assert pruned["schema_version"] == 1 and sorted(pruned["removed"]) == sorted(ids)
    assert list(runs_dir.iterdir()) == []
    assert run(capsys, "plan", "web", "--json").stdout.count('"build"') == 1  # trust survives pruning
    with (project / "hybridcore.toml").open("a") as fh:
        fh.write("\n[runs]\nkeep = 2\n")
    kept = [json.loads(run(capsys, "validate", "web", "--json").stdout)["command_id"] for _ in range(3)]
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted(kept[1:])
    # A pruned run is still listed; what is gone is said, not shown as an empty log or "no rule matched".
    logs = run(capsys, "runs", "logs", kept[0])
    assert logs.returncode == 0 and "no logs: its run folder was removed (runs prune or [runs] keep)" in logs.stderr
    shown = run(capsys, "runs", "show", kept[0])
    assert "(removed by runs prune or [runs] keep)" in shown.stdout
    why = json.loads(run(capsys, "explain", f"{kept[0]}/web", "--json").stdout)
    assert why["rule"] == "unknown" and "was removed" in why["source"] and why["evidence"] == []


def test_init_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "images" / "web").mkdir(parents=True)
    (tmp_path / "images" / "web" / "web.pkr.hcl").write_text('source "null" "a" {}\n')
    monkeypatch.chdir(tmp_path)
    out = run(capsys, "init", "--json")
    doc = json.loads(out.stdout)
    assert out.returncode == 0 and doc["schema_version"] == 1 and doc["targets"] == ["images-web"]
    assert ".hybridcore/" in (tmp_path / ".gitignore").read_text()
    again = run(capsys, "init")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_unwritable_state_folder_is_a_clear_error(fake_packer: FakePacker, project: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".hybridcore").write_text("a file where the state folder should be")
    out = run(capsys, "validate", "web")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "hint:" in out.stderr and ".hybridcore" in out.stderr


def test_json_exit_code_is_the_process_exit_code(fake_packer: FakePacker, project: Path) -> None:
    """Real processes: for each outcome the document's exit_code is what the shell sees."""
    fake_packer.script(version="1.6.6", build=[{"exit": 1, "stdout": "1,,ui,error,Error: Unsupported argument\n"},
                                               {"stdout": ARTIFACT_OUT}])
    env = {**os.environ}
    assert cli("validate", "web", cwd=project, env=env).returncode == 0
    for expected in (1, 0):
        out = cli("build", "web", "--json", cwd=project, env=env)
        assert out.returncode == expected == json.loads(out.stdout)["exit_code"]


def test_every_json_output_has_its_published_shape(fake_packer: FakePacker, project: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Each --json document of a small session validates against the model behind schemas/<name>."""
    from hybridcore.packer.console.shapes import check
    from hybridcore.packer.records import CommandResult, parse

    def doc(name: str, *args: str) -> object:
        out = run(capsys, *args)
        body = json.loads(out.stdout)
        check(name, body)
        return body

    fake_packer.script(version="1.6.6", build=[
        {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n", "exit": 1},
        {"stdout": ARTIFACT_OUT}])
    doc("error.schema.json", "build", "web", "--json")               # drift: never validated
    doc("error.schema.json", "runs", "show", "nope", "--json")
    doc("drift.schema.json", "drift", "--json")
    doc("plan.schema.json", "plan", "--json")
    doc("plan-matrix.schema.json", "plan", "--matrix")
    parse(CommandResult, json.loads(run(capsys, "validate", "web", "--json").stdout))
    failed = json.loads(run(capsys, "build", "web", "--json").stdout)
    parse(CommandResult, json.loads(run(capsys, "build", "web", "--json").stdout))
    doc("runs.schema.json", "runs", "--json")
    doc("runs-show.schema.json", "runs", "show", failed["command_id"], "--json")
    doc("explain.schema.json", "explain", failed["command_id"], "--json")
    doc("artifacts.schema.json", "artifacts", "--json")
    doc("cache-ls.schema.json", "cache", "ls", "--json")
    doc("cache-verify.schema.json", "cache", "verify", "--json")
    doc("cache-prune.schema.json", "cache", "prune", "--json")
    doc("runs-prune.schema.json", "runs", "prune", "--older-than", "30", "--json")
    (tmp_path / "fresh").mkdir()
    doc("init.schema.json", "-C", str(tmp_path / "fresh"), "init", "--json")


def test_upgrade_check_progress_on_stderr_as_it_goes(fake_packer: FakePacker, project: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from hybridcore.packer.console.shapes import check

    out = run(capsys, "upgrade-check", "--from", "packer", "--to", "packer", "web", "--json")
    assert out.returncode == 0 == json.loads(out.stdout)["exit_code"]
    check("upgrade-check.schema.json", json.loads(out.stdout))
    lines = out.stderr.splitlines()
    assert lines[0].startswith("[A 1.6.6] sandbox ...")
    assert any(line.startswith("[B 1.6.6] build web ... ") and line.endswith(" s)") for line in lines)


NULL_ARTIFACT = (
    "1700000001,null.n,artifact-count,1\n"
    "1700000001,null.n,artifact,0,builder-id,fnoeding.null\n"
    "1700000001,null.n,artifact,0,id,Null\n"
    "1700000001,null.n,artifact,0,string,Did not export anything. This is the null builder\n"
    "1700000001,null.n,artifact,0,files-count,0\n"
    "1700000001,null.n,artifact,0,end\n"
)


def test_null_build_shows_no_null_image_id(fake_packer: FakePacker, project: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": NULL_ARTIFACT})
    run(capsys, "validate", "web")
    out = run(capsys, "build", "web")
    assert out.returncode == 0 and "web: build ok (1 artifact)" in out.stderr
    artifact_line = next(line for line in out.stderr.splitlines() if line.strip().startswith("artifact "))
    assert "Null" not in artifact_line and "no image" in artifact_line
    assert "Null" not in run(capsys, "artifacts").stdout


def test_fail_fast_stop_is_reported_as_cancelled(fake_packer: FakePacker, project: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build=[
        {"stdout": "1,,ui,error,Error: Unsupported argument\n", "exit": 1},
        {"stdout": "1,,ui,say,==> waiting\n", "wait_for_signal": True, "signal_exit": 1}])
    run(capsys, "validate", "web", "other")
    out = run(capsys, "build", "web", "other", "--parallel", "2", "--fail-fast")
    assert out.returncode == 1, out.stderr
    cancelled = [line for line in out.stderr.splitlines() if "cancelled" in line]
    assert len(cancelled) == 1 and "--fail-fast stopped it after" in cancelled[0]
    assert "Ctrl-C" not in out.stderr
    assert out.stderr.splitlines()[-1].endswith("exit 1")


def test_timeout_is_not_reported_as_an_interrupt(fake_packer: FakePacker, project: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": "1,,ui,say,==> waiting\n", "wait_for_signal": True,
                                               "signal_exit": 1})
    run(capsys, "validate", "web")
    out = run(capsys, "build", "web", "--timeout", "0.5")
    assert out.returncode == 75, out.stderr
    assert "web: timeout (exit 75): retryable" in out.stderr
    assert "did not finish within 0.5s" in out.stderr and "Ctrl-C" not in out.stderr


def test_registry_latest_promote_revoke(fake_packer: FakePacker, project: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from hybridcore.packer.console.shapes import check
    from hybridcore.packer.records import ArtifactRecord, parse

    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    none = run(capsys, "artifacts", "latest", "--target", "web")
    assert none.returncode == 1 and "no unrevoked artifact of target 'web'" in none.stderr and none.stdout == ""
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    run(capsys, "validate", "web")
    first = json.loads(run(capsys, "build", "web", "--json").stdout)["artifacts"][0]["build_id"]
    second = json.loads(run(capsys, "build", "web", "--json").stdout)["artifacts"][0]["build_id"]
    latest = json.loads(run(capsys, "artifacts", "latest", "--target", "web", "--json").stdout)
    parse(ArtifactRecord, latest)
    assert latest["build_id"] == second
    promoted = json.loads(run(capsys, "artifacts", "promote", first[:20], "--channel", "prod", "--json").stdout)
    check("artifact-event.schema.json", promoted)
    assert promoted["build_id"] == first and promoted["channel"] == "prod" and "@" in promoted["who"]
    tf = json.loads(run(capsys, "artifacts", "latest", "--target", "web", "--channel", "prod", "--terraform").stdout)
    check("artifacts-latest-terraform.schema.json", tf)
    assert tf["build_id"] == first and all(isinstance(v, str) for v in tf.values())
    revoked = run(capsys, "artifacts", "revoke", second, "--reason", "CVE-2026-0001 in the base image")
    assert revoked.returncode == 0 and "revoked by" in revoked.stdout
    assert json.loads(run(capsys, "artifacts", "latest", "--target", "web", "--json").stdout)["build_id"] == first
    shown = json.loads(run(capsys, "artifacts", "show", second, "--json").stdout)
    check("artifact-show.schema.json", shown)
    assert shown["revocation"]["reason"] == "CVE-2026-0001 in the base image" and shown["channels"] == []
    assert json.loads(run(capsys, "artifacts", "show", first, "--json").stdout)["channels"] == ["prod"]
    assert "REVOKED" in run(capsys, "artifacts", "show", second).stdout
    bad = run(capsys, "artifacts", "promote", first, "--channel", "bad channel!", "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["exit_code"] == 2
    gone = run(capsys, "artifacts", "promote", second, "--channel", "dev")
    assert gone.returncode == 2 and "revoked" in gone.stderr


def test_lock_timeout_option_reaches_the_runner(fake_packer: FakePacker, project: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "validate", "web")
    assert run(capsys, "build", "web", "--lock-timeout", "1.5").returncode == 0
    bad = run(capsys, "build", "web", "--lock-timeout", "-1")
    assert bad.returncode == 2 and len(fake_packer.calls("build")) == 1


def test_the_typer_app_is_importable_from_the_package() -> None:
    from hybridcore.packer.cli import app

    assert {c.name for c in app.registered_commands} >= {"fmt", "validate", "build", "drift", "plan"}
