"""Many runners, one state (issue 13), end to end: several real ``hybridcore-packer`` processes, each in
its own copy of one small project (its own cwd, TMPDIR and ``.hybridcore/``), sharing one state through
``HYBRIDCORE_STATE_URL``, with the real Packer 1.6.6 building null/file templates.

Every test runs twice: on a real PostgreSQL (a fresh database on the server the suite starts itself,
``tests/support/postgres.py``) and on one SQLite file that every copy names by URL (the same machine:
SQLite's build lock is a ``flock`` beside that file, so it holds across the copies too).

Synchronisation is by events, never by sleeping: a build that must hold its lock runs a shell-local step
that reports through a FIFO and blocks on another (``tests.faults.support.Gate``); a waiter is seen
waiting through its ``lock_wait`` event in its event log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.faults.support import (
    Gate,
    Project,
    Result,
    Running,
    null_template,
    pgid_of,
    tree_files,
    wait_gone,
)
from tests.support.postgres import pg_dump, pg_server, pg_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

ENV = "ci"
CANARY_ENV = "HC_MR_CANARY"      # toml `secrets = { password = "HC_MR_CANARY" }`
CLI_CANARY_ENV = "HC_MR_CLI"     # `--secret password=HC_MR_CLI`
CANARY = "mrCanary7Zq4Xw9Lp2vT"
CLI_CANARY = "mrCliCanary3Hd8Rk5Nb"
REDACTED = "<redacted>"

APP = """\
variable "password" {
  type    = string
  default = ""
}

variable "name" {
  type    = string
  default = "x"
}

source "file" "image" {
  content = "image ${var.name}"
  target  = "${path.root}/out/${var.name}.img"
}

build {
  sources = ["source.file.image"]

  provisioner "shell-local" {
    inline = ["echo the password of ${var.name} is ${var.password}"]
  }
}
"""


def _targets_toml(names: list[str], template: str = "templates/app", *, secrets: bool = True) -> str:
    out = []
    for n in names:
        out.append(f'[targets.{n}]\ntemplate = "{template}"\nvars = {{ name = "{n}" }}\n'
                   f'platform = "local"\nregion = "r-{n}"\n')
        if secrets:
            out.append(f'secrets = {{ password = "{CANARY_ENV}" }}\n')
        out.append("\n")
    return "".join(out)


# ----------------------------------------------------------------------------------- shared state


@dataclass
class SharedState:
    """The one state every runner of a test points at."""

    kind: str           # "postgresql" | "sqlite"
    url: str
    folder: Path | None  # SQLite: the folder holding state.db, its WAL and its lock files

    def contents(self) -> dict[str, bytes]:
        """Everything the state holds, as bytes: ``pg_dump`` of the database, or every file of SQLite's."""
        if self.kind == "postgresql":
            return {"pg_dump": pg_dump(self.url).encode()}
        assert self.folder is not None
        return tree_files(self.folder)


@pytest.fixture(params=["postgresql", "sqlite"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> SharedState:
    if request.param == "postgresql":
        return SharedState("postgresql", str(request.getfixturevalue("pg_url")), None)
    folder = tmp_path / "shared-state"
    folder.mkdir(mode=0o700)
    return SharedState("sqlite", f"sqlite:///{folder / 'state.db'}", folder)


# ------------------------------------------------------------------------------------------ runners


@dataclass
class Fleet:
    """Runners: copies of one project (``files``), each a ``Project`` with its own folder and TMPDIR."""

    base: Path
    state: SharedState
    files: dict[str, str]
    runners: list[Project] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)

    def gate(self, name: str) -> Gate:
        """A FIFO gate outside every copy (its paths are in the template, the same in each copy)."""
        gate = Gate(self.base / "gates", name)
        self.gates.append(gate)
        return gate

    def runner(self, name: str) -> Project:
        project = Project.create(self.base / name)
        for rel, text in self.files.items():
            project.write(rel, text)
        project.env.update(HYBRIDCORE_STATE_URL=self.state.url, HYBRIDCORE_ENV=ENV,
                           **{CANARY_ENV: CANARY, CLI_CANARY_ENV: CLI_CANARY})
        self.runners.append(project)
        return project

    def close(self) -> None:
        for runner in self.runners:
            runner.close()
        for gate in self.gates:
            gate.open()
            gate.close()


@pytest.fixture
def fleet(tmp_path: Path, shared: SharedState) -> Iterator[Fleet]:
    f = Fleet(tmp_path / "fleet", shared, {"templates/app/app.pkr.hcl": APP})
    yield f
    f.close()


def ok(result: Result) -> Any:
    assert result.returncode == 0, result.output[-4000:]
    return result.json()


def doc(result: Result, code: int) -> Any:
    assert result.returncode == code, result.output[-4000:]
    return result.json()


def runs(project: Project, *, target: str | None = None) -> list[dict[str, Any]]:
    extra = ["--target", target] if target else []
    rows = ok(project.run("runs", "--json", "--limit", "500", *extra))
    assert isinstance(rows, list)
    return rows


def wait_for_event(project: Project, event: str, timeout: float = 60.0) -> dict[str, Any]:
    """The first ``event`` in the runner's event logs, polled with a deadline (waiting for an event that
    another process writes; the poll interval does not decide any outcome)."""
    end = time.monotonic() + timeout
    logs = project.root / ".hybridcore" / "logs"
    while time.monotonic() < end:
        for path in sorted(logs.glob("*.jsonl")) if logs.is_dir() else []:
            for line in path.read_text(errors="replace").splitlines():
                if f'"event": "{event}"' in line:
                    try:
                        return dict(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a line still being written: read it again on the next pass
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} event in {logs} within {timeout} s")


def at_gate_or_ended(gate: Gate, running: Running, timeout: float = 90.0) -> int | None:
    """The pid of the shell that reaches ``gate`` next, or None when ``running`` ends first.

    (Gate.wait is for a first arrival: once an earlier shell closed the FIFO, poll() reports a hang-up
    at once. Here a reader of our own, and the process's own wait as the poll interval.)"""
    fd = os.open(gate.reached, os.O_RDONLY | os.O_NONBLOCK)
    try:
        data, end = b"", time.monotonic() + timeout
        while not data.endswith(b"\n"):
            with contextlib.suppress(BlockingIOError):
                data += os.read(fd, 64)
            if data:
                continue
            if running.proc.poll() is not None:
                return None
            if time.monotonic() >= end:
                raise AssertionError(f"neither at the gate nor ended within {timeout} s")
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.proc.wait(timeout=0.05)
        return int(data.strip())
    finally:
        os.close(fd)


def _gate_project(fleet: Fleet) -> Gate:
    gate = fleet.gate("hold")
    fleet.files["templates/hold/hold.pkr.hcl"] = null_template(gate.inline(), source="hold")
    fleet.files["hybridcore.toml"] = '[targets.hold]\ntemplate = "templates/hold"\n'
    return gate


# ------------------------------------------------------------------------------------ a. one target


def test_second_runner_gives_up_with_locked_naming_the_holder(fleet: Fleet) -> None:
    gate = _gate_project(fleet)
    a, b = fleet.runner("a"), fleet.runner("b")
    ok(a.run("validate", "hold", "--json"))
    first = a.start("build", "hold", "--json")
    gate.wait(first.proc)            # a holds the lock and sits inside Packer
    waiter = b.start("build", "hold", "--lock-timeout", "1", "--json")
    assert at_gate_or_ended(gate, waiter) is None, "b entered Packer while a held the build lock"
    second = _finish(b, waiter)
    gate.open()
    built = ok(first.finish(120))

    refused = doc(second, 75)
    (target,) = refused["targets"]
    assert refused["exit_code"] == 75 and target["exit_code"] == 75 and target["status"] == "failed"
    assert target["classification"]["category"] == "locked" and not target["retryable"]
    holder = f"host {socket.gethostname()}, pid {first.pid}, command {built['command_id']}"
    assert holder in target["stderr"], target["stderr"]
    assert "gave up after 1.0s" in target["stderr"]
    assert refused["artifacts"] == [] and target["stdout"] == ""  # Packer never ran in b
    assert target.get("packer_exit_code") is None
    assert second.elapsed >= 1.0     # it did wait --lock-timeout before giving up

    rows = [r for r in runs(b, target="hold") if r["kind"] == "build"]
    assert sorted((r["command_id"], r["status"], r["category"]) for r in rows) == sorted(
        [(built["command_id"], "ok", "ok"), (refused["command_id"], "failed", "locked")])


def test_second_runner_waits_for_the_lock_then_builds(fleet: Fleet) -> None:
    gate = _gate_project(fleet)
    a, b = fleet.runner("a"), fleet.runner("b")
    ok(a.run("validate", "hold", "--json"))
    first = a.start("build", "hold", "--json")
    gate.wait(first.proc)
    second = b.start("build", "hold", "--lock-timeout", "120", "--json")
    waiting = wait_for_event(b, "lock_wait")
    assert waiting["holder"]["pid"] == first.pid and waiting["holder"]["host"] == socket.gethostname()
    gate.open()
    built_first = ok(first.finish(120))
    assert waiting["holder"]["command_id"] == built_first["command_id"]
    assert at_gate_or_ended(gate, second) is not None  # b reaches Packer only now, after a ended
    gate.open()
    built_second = ok(second.finish(120))
    assert built_second["targets"][0]["status"] == "ok"
    # b's Packer started only after a's build had ended and been recorded (a records before it releases).
    assert wait_for_event(b, "start")["time"] >= built_first["targets"][0]["finished_at"]
    assert len(ok(a.run("artifacts", "--json", "--target", "hold"))) == 2


def test_a_killed_holder_frees_the_lock_and_its_run_is_marked_abandoned(fleet: Fleet) -> None:
    gate = _gate_project(fleet)
    a, b = fleet.runner("a"), fleet.runner("b")
    ok(a.run("validate", "hold", "--json"))
    first = a.start("build", "hold", "--json")
    shell = gate.wait(first.proc)
    packer_group = pgid_of(shell)
    assert packer_group is not None
    os.kill(first.pid, signal.SIGKILL)   # the runner dies holding the lock, mid-build
    first.proc.wait(timeout=30)
    assert wait_gone(packer_group, [shell], 15.0) == []  # its Packer went with it (the watchdog)

    second = b.start("build", "hold", "--lock-timeout", "60", "--json")
    assert at_gate_or_ended(gate, second) is not None  # the lock was free: b got into Packer
    gate.open()
    built = ok(_finish(b, second))
    rows = {r["command_id"]: r for r in runs(b, target="hold") if r["kind"] == "build"}
    assert rows.pop(built["command_id"])["status"] == "ok"
    (dead,) = rows.values()
    assert dead["status"] == "abandoned"  # b's sweep judged a's run dead (same host: its pid is gone)


# ------------------------------------------------------------------------------- b. many targets


RUNNERS, PER_RUNNER = 4, 2


def test_concurrent_builds_of_different_targets_lose_no_rows(fleet: Fleet) -> None:
    names = [f"t{i}" for i in range(RUNNERS * PER_RUNNER)]
    fleet.files["hybridcore.toml"] = _targets_toml(names)
    runners = [fleet.runner(f"r{i}") for i in range(RUNNERS)]
    mine = {r.root.parent.name: names[i * PER_RUNNER:(i + 1) * PER_RUNNER] for i, r in enumerate(runners)}

    def all_at_once(*args: str) -> dict[str, Any]:
        started: list[tuple[Project, Running]] = [
            (r, r.start(*args, *mine[r.root.parent.name], "--json")) for r in runners]
        return {r.root.parent.name: ok(_finish(r, running)) for r, running in started}

    validated = all_at_once("validate")
    built = all_at_once("build", "--parallel", str(PER_RUNNER))

    expected_builds = {}
    for runner, result in built.items():
        assert result["exit_code"] == 0
        assert sorted(t["target"] for t in result["targets"]) == mine[runner]
        for art in result["artifacts"]:
            expected_builds[art["build_id"]] = (art["target"], result["command_id"])
    assert sorted(t for t, _ in expected_builds.values()) == names  # one artifact per target

    observer = fleet.runner("observer")
    rows = runs(observer)
    builds = [r for r in rows if r["kind"] == "build"]
    validates = [r for r in rows if r["kind"] == "validate"]
    assert sorted(r["target"] for r in builds) == names and all(r["status"] == "ok" for r in builds)
    assert sorted(r["target"] for r in validates) == names and all(r["status"] == "ok" for r in validates)
    assert {r["command_id"] for r in builds} == {v["command_id"] for v in built.values()}
    assert {r["command_id"] for r in validates} == {v["command_id"] for v in validated.values()}

    records = ok(observer.run("artifacts", "--json", "--limit", "100"))
    assert {r["build_id"]: (r["target"], r["provenance"]["command_id"]) for r in records} == expected_builds
    # Trust written by 8 concurrent builds: every target is now current for every runner.
    states = ok(observer.run("plan", "--json"))["targets"]
    assert {s["target"]: s["state"] for s in states} == dict.fromkeys(names, "current")
    assert_no_canary(fleet)


def _finish(project: Project, running: Running) -> Result:
    try:
        return running.finish(180)
    finally:
        project.reap(running)


# ------------------------------------------------------------------------------- c. shared trust


def test_trust_is_shared_and_drift_is_refused_across_runners(fleet: Fleet) -> None:
    fleet.files["hybridcore.toml"] = _targets_toml(["web"])
    a, b = fleet.runner("a"), fleet.runner("b")
    validated = ok(a.run("validate", "web", "--json"))
    built = ok(b.run("build", "web", "--json"))          # b never validated: a's trust counts
    assert built["targets"][0]["status"] == "ok"
    trusted = [r for r in runs(a, target="web") if r["kind"] in ("validate", "build")]
    assert {r["command_id"] for r in trusted} == {validated["command_id"], built["command_id"]}

    template = b.root / "templates" / "app" / "app.pkr.hcl"
    template.write_text(template.read_text().replace("image ${var.name}", "image ${var.name} v2"))
    refused = doc(b.run("build", "web", "--json"), 4)
    assert refused["error"] == "DriftDetected" and "validate" in refused["hint"]
    assert refused["diff"]["web"]["changed"] == ["templates/app/app.pkr.hcl"]
    # The refusal trusted nothing: a's unchanged copy still matches the trust b's build left.
    assert ok(a.run("drift", "web", "--json"))["exit_code"] == 0
    assert doc(b.run("drift", "web", "--json"), 4)["exit_code"] == 4


# ----------------------------------------------------------------------------------------- d. plan


def test_plan_and_matrix_reflect_builds_done_elsewhere(fleet: Fleet) -> None:
    fleet.files["templates/other/other.pkr.hcl"] = APP
    fleet.files["hybridcore.toml"] = (_targets_toml(["built", "pending", "never"])
                                      + _targets_toml(["changed"], "templates/other"))
    a, b, c = fleet.runner("a"), fleet.runner("b"), fleet.runner("c")
    assert ok(c.run("plan", "--matrix")) == {"include": []}   # an empty state: nothing to build yet
    ok(a.run("validate", "built", "pending", "changed", "--json"))
    ok(b.run("build", "built", "--json"))
    other = c.root / "templates" / "other" / "other.pkr.hcl"
    other.write_text(other.read_text() + "# changed on runner c\n")

    states = {s["target"]: s for s in ok(c.run("plan", "--json"))["targets"]}
    assert {n: s["state"] for n, s in states.items()} == {
        "built": "current", "pending": "build", "never": "untrusted", "changed": "drift"}
    assert "templates/other/other.pkr.hcl" in states["changed"]["reason"]
    assert ok(c.run("plan", "--matrix")) == {"include": [{"target": "pending"}]}
    # a's copy is unchanged: for it, "changed" is still trusted and waiting to be built.
    assert ok(a.run("plan", "--matrix")) == {"include": [{"target": "pending"}, {"target": "changed"}]}


# ------------------------------------------------------------------------------------- e. registry


def test_promote_and_revoke_are_seen_by_every_runner(fleet: Fleet) -> None:
    fleet.files["hybridcore.toml"] = _targets_toml(["web"])
    a, b = fleet.runner("a"), fleet.runner("b")
    ok(a.run("validate", "web", "--json"))
    first = ok(a.run("build", "web", "--json"))["artifacts"][0]["build_id"]
    second = ok(b.run("build", "web", "--json"))["artifacts"][0]["build_id"]
    assert second > first
    promoted = ok(a.run("artifacts", "promote", first, "--channel", "prod", "--json"))
    assert promoted["action"] == "promote" and promoted["channel"] == "prod"

    assert ok(b.run("artifacts", "latest", "--target", "web", "--json"))["build_id"] == second
    assert ok(b.run("artifacts", "latest", "--target", "web", "--channel", "prod", "--json"))["build_id"] == first
    tf = ok(b.run("artifacts", "latest", "--target", "web", "--channel", "prod", "--terraform"))
    assert isinstance(tf, dict) and all(isinstance(v, str) for v in tf.values())
    assert (tf["build_id"], tf["channel"], tf["platform"], tf["region"]) == (first, "prod", "local", "r-web")
    assert tf["image_id"].endswith("/templates/app/out/web.img")

    ci = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "runner-b", "GITHUB_REPOSITORY": "org/images",
          "GITHUB_RUN_ID": "42"}
    revoked = ok(b.run("artifacts", "revoke", first[:20], "--reason", "CVE-2026-0001 in openssl", "--json", env=ci))
    assert revoked["action"] == "revoke" and revoked["build_id"] == first

    shown = ok(a.run("artifacts", "show", first, "--json"))
    assert shown["channels"] == []
    assert shown["revocation"]["reason"] == "CVE-2026-0001 in openssl"
    assert shown["revocation"]["who"] == "runner-b (org/images run 42)"
    history = [(e["action"], e["channel"], e["who"]) for e in shown["history"]]
    assert history == [("promote", "prod", promoted["who"]), ("revoke", None, "runner-b (org/images run 42)")]
    assert shown["history"][0]["at"] <= shown["history"][1]["at"] == shown["revocation"]["at"]
    text = a.run("artifacts", "show", first)
    assert text.returncode == 0 and "REVOKED" in text.output and "runner-b" in text.output

    gone = a.run("artifacts", "latest", "--target", "web", "--channel", "prod", "--json")
    assert doc(gone, 1)["exit_code"] == 1
    assert ok(a.run("artifacts", "latest", "--target", "web", "--json"))["build_id"] == second
    refused = b.run("artifacts", "promote", first, "--channel", "dev", "--json")
    assert refused.returncode == 2 and "revoked" in refused.output


# ------------------------------------------------------------------------------------- f. canaries


def assert_no_canary(fleet: Fleet) -> None:
    held = fleet.state.contents()
    assert held and any(len(blob) > 1000 for blob in held.values())  # the state is there and has rows
    for canary in (CANARY, CLI_CANARY):
        found = [name for name, blob in held.items() if canary.encode() in blob]
        assert found == [], f"{canary} reached the state: {found}"


def test_canary_secrets_never_reach_the_shared_state(fleet: Fleet) -> None:
    names = ["toml", "cli"]
    fleet.files["hybridcore.toml"] = (_targets_toml(["toml"]) + _targets_toml(["cli"], secrets=False))
    a, b = fleet.runner("a"), fleet.runner("b")
    secret = ("--secret", f"password={CLI_CANARY_ENV}")
    ok(a.run("validate", "toml", "--json"))
    ok(a.run("validate", "cli", *secret, "--json"))
    toml_build = b.start("build", "toml", "--json")
    cli_build = a.start("build", "cli", *secret, "--json")
    results = {"toml": ok(_finish(b, toml_build)), "cli": ok(_finish(a, cli_build))}
    for name in names:   # each template printed its secret, and the wrapper redacted it
        assert f"the password of {name} is {REDACTED}" in results[name]["stdout"]
    # The state holds these builds...
    held = b"".join(fleet.state.contents().values())
    for result in results.values():
        assert result["command_id"].encode() in held and result["artifacts"][0]["build_id"].encode() in held
    # ...and no trace of either canary, nor do the runners' own folders.
    assert_no_canary(fleet)
    for runner in (a, b):
        leaked = [p for p, blob in tree_files(runner.root).items() if CANARY.encode() in blob
                  or CLI_CANARY.encode() in blob]
        assert leaked == []
    assert os.environ.get(CANARY_ENV) is None  # the canaries lived only in the runners' environments
