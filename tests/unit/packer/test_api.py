"""The wrappers end to end against a fake packer: argv, env, secrets, records, drift, bad input."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from tests.unit.conftest import ARTIFACT_OUT, FakePacker

from hybridcore.errors import (
    DriftDetected,
    HybridcoreError,
    MalformedVar,
    PackerNotFound,
    PackerVersionError,
    TemplateNotFound,
    UnknownTarget,
)
from hybridcore.packer import Secret, build, fmt, validate
from hybridcore.packer.process import Cancel

CANARY = "canary-S3cr3t-value-42"


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_validate_argv_env_and_result_shape(fake_packer: FakePacker, project: Path) -> None:
    result = validate("web", {"zone": "b", "replicas": 2})
    (call,) = fake_packer.calls("validate")
    tpl = project / "templates" / "web"
    user_file, generated = call["var_files"]
    # No value on argv: the given values travel in the generated var file, passed last.
    assert call["argv"][1:] == [
        "validate", f"-var-file={project / 'vars' / 'dc1.pkrvars.hcl'}", f"-var-file={generated['path']}",
        "templates/web",
    ]
    assert Path(generated["path"]).parent == Path(call["env"]["TMPDIR"])
    assert generated["mode"] == 0o600 and user_file["mode"] != 0o600
    assert generated["text"] == (
        f'hybridcore_provisioners = ["{project / "assets" / "harden.sh"}"]\n'
        'region = "dc1"\nreplicas = 2\nzone = "b"\n')
    assert not Path(generated["path"]).exists() and not Path(call["env"]["TMPDIR"]).exists()
    # Packer runs in the project root (the default workdir), given the template as typed there.
    assert call["cwd"] == str(project) and tpl.is_dir()
    env = call["env"]
    assert env["PACKER_LOG"] == "1" and env["HYBRIDCORE_ENV"] == "dev"
    assert env["CHECKPOINT_DISABLE"] == "1" and env["PACKER_NO_COLOR"] == "1"
    assert env["PACKER_LOG_PATH"].startswith(str(project / ".hybridcore" / "runs" / result.command_id))
    d = result.to_dict()
    for key in ("command", "exit_code", "stdout", "stderr", "manifest_path", "artifacts", "started_at",
                "finished_at", "retryable", "targets"):
        assert key in d
    assert d["exit_code"] == 0 and d["retryable"] is False and d["command"] == "validate"
    # Plain ints in memory too (records are dataclasses: nothing coerces an IntEnum on the way in).
    assert type(result.exit_code) is int and type(result.targets[0].exit_code) is int
    assert type(result.targets[0].attempts[0].exit_code) is int
    assert d["started_at"].endswith("+00:00")
    run = Path(d["targets"][0]["run_dir"])
    assert run == project / ".hybridcore" / "runs" / result.command_id / "web"
    cmd = json.loads((run / "command.json").read_text())
    assert "PACKER_LOG" in cmd["env_set"] and "PACKER_LOG_PATH" in cmd["env_set"]
    for name in ("command.json", "stdout.log", "stderr.log", "packer.log", "result.json"):
        mode = stat.S_IMODE((run / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert stat.S_IMODE(run.stat().st_mode) == 0o700


def test_same_call_same_argv(fake_packer: FakePacker, project: Path) -> None:
    one = validate(["web"], {"zone": "1", "api_key": "2"}, var_files=["vars/dc1.pkrvars.hcl"])
    two = validate(["web"], {"api_key": "2", "zone": "1"}, var_files=["vars/dc1.pkrvars.hcl"])
    assert one.targets[0].argv == two.targets[0].argv  # as recorded: the var file as $TMPDIR/<name>
    assert "-var-file=$TMPDIR/hybridcore.pkrvars.hcl" in one.targets[0].argv
    first, second = fake_packer.calls("validate")
    # What ran differs only in the attempt's (unpredictable) private temp folder.
    assert first["var_files"][-1]["text"] == second["var_files"][-1]["text"]
    assert [a.replace(first["env"]["TMPDIR"], "T") for a in first["argv"]] == \
        [a.replace(second["env"]["TMPDIR"], "T") for a in second["argv"]]


def test_secrets_never_on_argv_and_redacted_everywhere(fake_packer: FakePacker, project: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HC_TEST_PW", CANARY)
    monkeypatch.setenv("MY_API_TOKEN", "tok-" + CANARY[::-1])
    fake_packer.script(version="1.6.6", build={
        "stdout": f"1700000000,,ui,message,    file.example: pw is {CANARY}\n"
                  f"1700000000,,ui,message,    file.example: other {'tok-' + CANARY[::-1]}\n"
                  f"1700000000,,ui,message,    file.example: explicit sekrit-value-9\n" + ARTIFACT_OUT,
        "stderr": f"error near {CANARY}\n",
        "log": f"debug: password={CANARY}\nsekrit-value-9\n",
    }, validate={"stdout": f"ok {CANARY}\n"})
    validate("web", {"api_key": Secret("sekrit-value-9")})
    result = build("web", {"api_key": Secret("sekrit-value-9")})
    assert result.exit_code == 0, result.stdout
    for call in fake_packer.calls():
        assert CANARY not in " ".join(call["argv"])
        assert "sekrit-value-9" not in " ".join(call["argv"])
    build_call = fake_packer.calls("build")[0]
    assert not [k for k in build_call["env"] if k.startswith("PKR_VAR_")]  # the var file carries them
    assert 'api_key = "sekrit-value-9"' in build_call["var_files"][-1]["text"]
    text = json.dumps(result.to_dict())
    for secret in (CANARY, "sekrit-value-9", "tok-" + CANARY[::-1]):
        assert secret not in text
        for f in _all_files(project):
            assert secret.encode() not in f.read_bytes(), f
    assert "<redacted>" in result.stdout
    assert "<redacted>" in Path(result.targets[0].packer_log_path or "").read_text()


def test_build_records_manifest_and_artifact(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    validate("web")
    result = build("web")
    assert result.status == "ok"
    manifest = json.loads(Path(result.manifest_path or "").read_text())
    assert manifest["builds"][0]["builder_type"] == "file"
    assert manifest["builds"][0]["name"] == "example"
    assert manifest["builds"][0]["artifact_id"] == "File"
    assert manifest["last_run_uuid"] == manifest["builds"][0]["packer_run_uuid"]
    (art,) = result.artifacts
    assert art.platform == "vsphere"  # the target's platform overrides the builder's
    assert art.builder_id == "packer.file" and art.provenance.command_id == result.command_id
    record = json.loads((project / "artifacts" / f"{art.build_id}.json").read_text())
    assert record["build_id"] == art.build_id and record["provenance"]["env"] == "dev"
    assert "-machine-readable" in fake_packer.calls("build")[0]["argv"]


def test_build_refused_without_validate_runs_no_packer(fake_packer: FakePacker, project: Path) -> None:
    with pytest.raises(DriftDetected) as info:
        build("web")
    assert fake_packer.calls("build") == []
    assert "validate" in str(info.value)
    assert info.value.diff["web"]["untrusted"] is True


def test_drift_after_validate_on_changed_asset(fake_packer: FakePacker, project: Path) -> None:
    validate("web")
    (project / "templates" / "web" / "scripts" / "setup.sh").write_text("#!/bin/sh\necho changed\n")
    with pytest.raises(DriftDetected) as info:
        build("web")
    assert any("setup.sh" in c for c in info.value.diff["web"]["changed"])
    assert fake_packer.calls("build") == []
    validate("other")  # trust is per target
    with pytest.raises(DriftDetected):
        build("web")
    validate("web")
    assert build("web").exit_code == 0


def test_failed_build_is_returned_not_raised(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", build={
        "stdout": "1700000000,,ui,error,Build 'file.example' errored: Script exited with non-zero exit status: 2\n",
        "exit": 1})
    validate("web")
    result = build("web")
    assert result.exit_code == 1 and result.retryable is False
    assert result.targets[0].classification.category == "provisioner"


def test_retry_transient_twice_then_success(fake_packer: FakePacker, project: Path) -> None:
    transient = {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n",
                 "exit": 1}
    fake_packer.script(version="1.6.6", build=[transient, transient, {"stdout": ARTIFACT_OUT}])
    validate("web")
    result = build("web", retries=3)
    assert result.exit_code == 0
    (t,) = result.targets
    assert [a.status for a in t.attempts] == ["failed", "failed", "ok"]
    assert len({a.run_dir for a in t.attempts}) == 3
    assert len(fake_packer.calls("build")) == 3


def test_hard_stop_is_never_retried(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", build={
        "stderr": 'Error: Unsupported argument\n\nAn argument named "foo" is not expected here.\n', "exit": 1})
    validate("web")
    result = build("web", retries=5)
    assert len(fake_packer.calls("build")) == 1
    assert result.retryable is False and len(result.targets[0].attempts) == 1


def test_fmt_check_maps_flags_and_exit_3(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", fmt={"stdout": "web.pkr.hcl\n", "exit": 3})
    result = fmt("web", check=True, diff=True)
    (call,) = fake_packer.calls("fmt")
    assert call["argv"][1:] == ["fmt", "-check", "-diff", str(project / "templates" / "web")]
    assert result.exit_code == 3 and result.status == "unformatted"


def test_fmt_recursive_native_on_new_packer(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.9.4")
    fmt("web", recursive=True)
    (call,) = fake_packer.calls("fmt")
    assert call["argv"][1:] == ["fmt", "-recursive", str(project / "templates" / "web")]


def test_bad_inputs_raise_before_running(fake_packer: FakePacker, project: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownTarget) as unknown:
        validate("nope")
    assert "web" in str(unknown.value) and "other" in str(unknown.value)
    with pytest.raises(TemplateNotFound):
        validate("templates/missing.pkr.hcl")
    with pytest.raises(TemplateNotFound):
        validate("web", var_files=["vars/absent.pkrvars.hcl"])
    with pytest.raises(MalformedVar):
        validate("web", {"bad name": "x"})
    from hybridcore.packer import binary

    fake_packer.script(version="1.5.4")
    # The version is cached per binary identity (inode, size, mtime): a new mtime is a new binary.
    binary._version_of.cache_clear()
    fake = shutil.which("packer")
    assert fake is not None
    os.utime(fake, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(PackerVersionError):
        validate("web")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PackerNotFound):
        validate("web")
    assert fake_packer.calls("validate") == []
    assert all(isinstance(e, HybridcoreError) for e in (unknown.value,))


def _capture_cancels(mp: pytest.MonkeyPatch) -> list[Cancel]:
    """Every command's Cancel, as the runner creates it, so a test can press Ctrl-C on it."""
    from hybridcore.packer import runner

    made: list[Cancel] = []

    class Recorded(Cancel):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    mp.setattr(runner, "Cancel", Recorded)
    return made


def test_interrupt_sends_sigint_and_records(fake_packer: FakePacker, project: Path) -> None:
    import threading

    fake_packer.script(version="1.6.6", build={"wait_for_signal": True, "signal_exit": 1})
    validate("web")
    ready = fake_packer.dir / "ready"

    def interrupt_when_ready() -> None:
        # The fake packer writes "ready" once its SIGINT handler is installed; poll for that file only.
        import time

        while not ready.exists():
            time.sleep(0.01)
        cancels[-1].request()

    with pytest.MonkeyPatch.context() as mp:
        cancels = _capture_cancels(mp)
        thread = threading.Thread(target=interrupt_when_ready)
        thread.start()
        result = build("web")
        thread.join()
    assert [s["signal"] for s in fake_packer.signals()] == ["SIGINT"]
    assert result.targets[0].status == "interrupted"
    assert result.targets[0].signals == ["SIGINT"]
    assert result.targets[0].classification.category == "interrupted"
    assert result.exit_code == result.targets[0].exit_code == 130
    assert result.targets[0].packer_exit_code == 1
    assert json.loads((Path(result.targets[0].run_dir) / "result.json").read_text())["status"] == "interrupted"


def test_env_is_not_mutated(fake_packer: FakePacker, project: Path) -> None:
    before = dict(os.environ)
    validate("web")
    assert dict(os.environ) == before


def test_packer_init_first_when_required_plugins_on_new_packer(fake_packer: FakePacker, project: Path) -> None:
    tpl = project / "templates" / "web" / "web.pkr.hcl"
    tpl.write_text('packer {\n  required_plugins {\n    amazon = {\n      version = ">= 1.0"\n'
                   '      source = "github.com/hashicorp/amazon"\n    }\n  }\n}\n' + tpl.read_text())
    fake_packer.script(version="1.9.4")
    validate("web")
    subs = [c["argv"][1] for c in fake_packer.calls() if c["argv"][1] != "version"]
    assert subs == ["init", "validate"]
    fake_packer.script(version="1.9.4", init={"stderr": "Error: Failed getting the plugin\n", "exit": 1})
    result = validate("web")
    assert result.exit_code == 1
    assert [c["argv"][1] for c in fake_packer.calls() if c["argv"][1] != "version"][-1] == "init"


def test_template_required_version_checked_before_running(fake_packer: FakePacker, project: Path) -> None:
    tpl = project / "templates" / "web" / "web.pkr.hcl"
    tpl.write_text('packer {\n  required_version = ">= 1.7.0"\n}\n' + tpl.read_text())
    with pytest.raises(PackerVersionError) as info:
        validate("web")
    assert "1.6.6" in str(info.value)
    assert fake_packer.calls("validate") == []


def test_project_version_pin(fake_packer: FakePacker, project: Path) -> None:
    with (project / "hybridcore.toml").open("a") as fh:
        fh.write('\n[packer]\nversion = ">=1.7,<2"\n')
    with pytest.raises(PackerVersionError):
        validate("web")


def test_parallel_targets_all_interrupted(fake_packer: FakePacker, project: Path) -> None:
    import threading

    fake_packer.script(version="1.6.6", build={"wait_for_signal": True, "signal_exit": 1})
    validate(["web", "other"])

    def interrupt_when_both_ready() -> None:
        import time

        # Each fake packer writes ready-<pid> once its SIGINT handler is installed.
        while len(list(fake_packer.dir.glob("ready-*"))) < 2:
            time.sleep(0.01)
        cancels[-1].request()

    with pytest.MonkeyPatch.context() as mp:
        cancels = _capture_cancels(mp)
        thread = threading.Thread(target=interrupt_when_both_ready)
        thread.start()
        result = build(["web", "other"], parallel=2)
        thread.join()
    assert sorted(t.status for t in result.targets) == ["interrupted", "interrupted"]
    assert sorted(s["signal"] for s in fake_packer.signals()) == ["SIGINT", "SIGINT"]
    assert len({s["pgid"] for s in fake_packer.signals()}) == 2  # each Packer in its own group


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    from hybridcore.files import atomic_write_json

    target = tmp_path / "record.json"
    atomic_write_json(target, {"v": 1})

    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("serialisation failed half-way")

    with pytest.raises(RuntimeError):
        atomic_write_json(target, {"v": Boom()})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_bad_user_classify_rule_refused_before_running(fake_packer: FakePacker, project: Path) -> None:
    from hybridcore.errors import ConfigError

    with (project / "hybridcore.toml").open("a") as fh:
        fh.write("\n[[classify.rules]]\nid = \"x\"\npattern = \"(unclosed\"\ncategory = \"network\"\n"
                 "retryable = true\nhint = \"h\"\n")
    with pytest.raises(ConfigError):
        validate("web")
    assert fake_packer.calls("validate") == []


def test_user_classify_rule_applies(fake_packer: FakePacker, project: Path) -> None:
    with (project / "hybridcore.toml").open("a") as fh:
        fh.write("\n[[classify.rules]]\nid = \"corp-proxy\"\npattern = \"proxy authentication required\"\n"
                 "category = \"network\"\nretryable = true\nhint = \"log in to the proxy\"\n")
    fake_packer.script(version="1.6.6", validate={"stdout": "Error: 407 Proxy Authentication Required\n",
                                                  "exit": 1})
    result = validate("web")
    assert result.retryable is True
    assert result.classification.rule == "corp-proxy" and result.classification.hint == "log in to the proxy"


def test_exit_code_is_the_table_value_and_packer_code_is_kept(fake_packer: FakePacker, project: Path) -> None:
    transient = {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n",
                 "exit": 1}
    fake_packer.script(version="1.6.6", build=transient)
    validate("web")
    result = build("web", retries=1)
    (t,) = result.targets
    assert result.exit_code == t.exit_code == 75 and t.packer_exit_code == 1
    assert [(a.exit_code, a.packer_exit_code) for a in t.attempts] == [(75, 1), (75, 1)]
    rows = json.loads(json.dumps(result.to_dict()))
    assert rows["targets"][0]["status"] == "failed"


def test_fail_fast_exits_with_the_code_of_the_failure_that_tripped_it(fake_packer: FakePacker,
                                                                        project: Path) -> None:
    transient = {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n",
                 "exit": 1}
    fake_packer.script(version="1.6.6", build=[transient, {"wait_for_signal": True, "signal_exit": 1}])
    validate(["web", "other"])
    result = build(["web", "other"], parallel=1, fail_fast=True)
    first, second = result.targets
    assert (first.status, first.exit_code) == ("failed", 75)
    # DESIGN: a target --fail-fast stopped ends "cancelled", its hint names --fail-fast, not Ctrl-C.
    assert (second.status, second.exit_code) == ("cancelled", 130)
    assert second.classification.category == "cancelled" and "--fail-fast" in second.classification.hint
    # The collateral stop does not decide the command: the tripping failure does.
    assert result.exit_code == 75 and result.status == "failed"


def test_interrupt_during_backoff_starts_no_new_packer(fake_packer: FakePacker, project: Path) -> None:
    import threading

    toml = project / "hybridcore.toml"
    toml.write_text(toml.read_text().replace("backoff_initial = 0", "backoff_initial = 600")
                    .replace("backoff_max = 0", "backoff_max = 600"))
    transient = {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n",
                 "exit": 1}
    fake_packer.script(version="1.6.6", build=transient)
    validate("web")
    logs = project / ".hybridcore" / "logs"

    def interrupt_in_backoff() -> None:
        import time

        # The runner logs a "retry" event just before it starts waiting.
        while not any('"event": "retry"' in p.read_text() for p in logs.glob("*.jsonl")):
            time.sleep(0.01)
        cancels[-1].request()

    with pytest.MonkeyPatch.context() as mp:
        cancels = _capture_cancels(mp)
        thread = threading.Thread(target=interrupt_in_backoff)
        thread.start()
        result = build("web", retries=3)
        thread.join()
    (t,) = result.targets
    assert len(fake_packer.calls("build")) == 1 and len(t.attempts) == 1
    assert t.attempts[0].status == "failed"
    assert (t.status, t.exit_code, t.classification.category) == ("interrupted", 130, "interrupted")
    assert result.exit_code == 130


def test_multi_target_build_manifest_merges_every_target(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    validate(["web", "other"])
    result = build(["web", "other"], parallel=2)
    assert result.exit_code == 0
    merged = json.loads(Path(result.manifest_path or "").read_text())
    assert Path(result.manifest_path or "").parent == Path(result.run_dir)
    assert sorted(b["custom_data"]["target"] for b in merged["builds"]) == ["other", "web"]
    per_target = {t.target: json.loads(Path(t.manifest_path or "").read_text()) for t in result.targets}
    assert {b["artifact_id"] for m in per_target.values() for b in m["builds"]} == {"File"}
    record = json.loads((project / "artifacts" / f"{result.artifacts[0].build_id}.json").read_text())
    assert record["schema_version"] == 2 and record["extra"] == {}


def test_public_functions_survive_their_modules_being_imported() -> None:
    """``classify`` and ``drift`` are functions of the package even after a wrapper loaded its modules."""
    import subprocess
    import sys

    code = ("import hybridcore.packer.api, hybridcore.packer.runner\n"
            "from hybridcore.packer import build, classify, drift\n"
            "assert callable(classify) and callable(drift), (classify, drift)\n"
            "print(classify('Error: RequestLimitExceeded', 1).category)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "throttling"


def test_build_locked_by_another_is_a_result_naming_the_holder(fake_packer: FakePacker, project: Path) -> None:
    import subprocess
    import sys

    validate("web")
    # Another process holds the lock (a lock is per process: this one could take it again).
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys\nfrom pathlib import Path\nfrom hybridcore.state import StateStore\n"
        "from hybridcore.packer.plan import env_name\n"
        f"s = StateStore.for_root(Path({str(project)!r}))\n"
        "with s.build_lock('web', env_name(), command_id='OTHERCMD'):\n"
        "    print('held', flush=True); sys.stdin.read()\n")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        result = build("web", retries=3, lock_timeout=0.3)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    (t,) = result.targets
    assert (t.status, t.exit_code, t.classification.category, t.retryable) == ("failed", 75, "locked", False)
    assert "OTHERCMD" in t.stderr and result.exit_code == 75
    assert fake_packer.calls("build") == []  # never started, never retried
    log = (project / ".hybridcore" / "logs" / f"{result.command_id}.jsonl").read_text()
    assert '"event": "lock_wait"' in log and '"timeout_s": 0.3' in log


def test_retry_event_names_attempt_of_category_and_wait(fake_packer: FakePacker, project: Path) -> None:
    transient = {"stdout": "1700000000,,ui,error,Error: RequestLimitExceeded: Request limit exceeded.\n",
                 "exit": 1}
    fake_packer.script(version="1.6.6", build=transient)
    validate("web")
    result = build("web", retries=1)
    events = [json.loads(line) for line in
              (project / ".hybridcore" / "logs" / f"{result.command_id}.jsonl").read_text().splitlines()]
    retry = [e for e in events if e.get("event") == "retry"]
    assert len(retry) == 1 and retry[0]["attempt"] == 1 and retry[0]["of"] == 2
    assert retry[0]["category"] == result.targets[0].attempts[0].classification.category
    assert retry[0]["wait_s"] >= 0
    runs = [e for e in events if e.get("event") == "start"]
    assert len(runs) == 2


def test_validate_timeout_stops_packer(fake_packer: FakePacker, project: Path) -> None:
    fake_packer.script(version="1.6.6", validate={"wait_for_signal": True, "signal_exit": 1})
    result = validate("web", timeout=0.5)
    assert (result.targets[0].status, result.exit_code) == ("timeout", 75)
    assert result.targets[0].signals[0] == "SIGINT"


def _the_build_row(project: Path) -> dict[str, Any]:
    """The one build run row in the project's state (fails unless there is exactly one)."""
    from hybridcore.state import StateStore

    store = StateStore.for_root(project)
    try:
        (row,) = store.list_runs(kind="build")
    finally:
        store.close()
    return row


def test_a_wrapper_error_mid_run_ends_the_row_at_once(fake_packer: FakePacker, project: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridcore.packer import results

    assert validate("web").exit_code == 0

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("records broke")

    monkeypatch.setattr(results, "finish_target", broken)
    with pytest.raises(RuntimeError, match="records broke"):
        build("web")
    row = _the_build_row(project)
    assert row["status"] == "failed" and row["category"] == "wrapper-error" and row["finished_at"]


def test_an_error_after_a_target_ended_leaves_its_row_as_it_ended(fake_packer: FakePacker, project: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridcore.state.locks import BuildLock

    assert validate("web").exit_code == 0
    release = BuildLock.release

    def broken_release(self: BuildLock) -> None:
        release(self)
        raise RuntimeError("release broke")

    monkeypatch.setattr(BuildLock, "release", broken_release)
    with pytest.raises(RuntimeError, match="release broke"):
        build("web")
    row = _the_build_row(project)
    assert row["status"] == "ok", row
