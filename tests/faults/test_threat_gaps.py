"""Rows of threat-model.md that had only a unit test, or none, now held against the real Packer 1.6.6
(DESIGN.md, "Secrets", "Where Packer runs, and what it reads", "Interrupts, crashes and multi-runner
state").

- the wrapper's own folders ``.hybridcore/parsed`` and ``.hybridcore/upgrade`` are refused as links,
  like the four folders test_bad_input.py covers;
- a second Ctrl-C kills Packer's group at once (not after ``kill_grace``), and an interrupted run
  leaves no private temp folder (the generated var file's folder, Packer's TMPDIR) behind;
- Packer's own temp files (``packer-shell*``: inline commands with values interpolated) are written
  in the attempt's private 0700 TMPDIR, which goes when the run ends; no ``HYBRIDCORE_*`` variable
  but ``HYBRIDCORE_ENV`` reaches Packer or its children;
- the value of an environment variable the template reads through ``env()`` is a drift input, named
  by its variable, never shown;
- values caught by a name heuristic (8+ characters) and passwords inside URLs in the environment are
  redacted when a provisioner prints them;
- a state whose file system is already full starts no Packer;
- a text template over the size bound is refused before any parser or Packer reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import time
from pathlib import Path

import pytest
from tests.faults.support import (
    Project,
    Running,
    cmdline,
    descendants,
    environ,
    has_traceback,
    leaks,
    null_template,
    pgid_of,
    private_folders,
    runs_json,
    small_tmpfs,
    state_dump,
    tree_files,
    wait_gone,
)

SIMPLE = '[targets.a]\ntemplate = "t.pkr.hcl"\n'
OLD = 946684800  # 2000-01-01


def _wait_for_text(running: Running, text: str, deadline_s: float) -> None:
    """Poll the command's captured output until ``text`` shows (the wrapper acknowledged something)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        seen = running.out_path.read_text(errors="replace") + running.err_path.read_text(errors="replace")
        if text in seen:
            return
        if running.proc.poll() is not None:
            raise AssertionError(f"the command ended (exit {running.proc.returncode}) before saying {text!r}")
        time.sleep(0.05)  # polling a file with a deadline, not synchronisation: no event to wait on
    raise AssertionError(f"the wrapper never said {text!r} within {deadline_s} s")


# ------------------------------------------------------------------------- the wrapper's own folders


@pytest.mark.parametrize("folder", [".hybridcore/parsed", ".hybridcore/upgrade"])
def test_other_symlinked_state_folders_refused(project: Project, folder: str) -> None:
    marker = project.outside / "packer-ran"
    project.toml(SIMPLE)
    project.write("t.pkr.hcl", null_template([f"touch {marker}"]))
    assert project.run("validate", "a").returncode == 0
    elsewhere = project.outside / "elsewhere"
    elsewhere.mkdir()
    elsewhere.chmod(0o755)
    link = project.root / folder
    if link.exists():
        shutil.rmtree(link)
    link.symlink_to(elsewhere)
    r = project.run("build", "a")
    assert r.returncode == 2 and not has_traceback(r.output), r.output[-3000:]
    assert folder.rsplit("/", 1)[-1] in r.output and "symlink" in r.output, r.output[-3000:]
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755, "the link target was chmodded"
    assert sorted(p.name for p in elsewhere.iterdir()) == [], "written through the link"
    assert not marker.exists(), "Packer ran"


# -------------------------------------------------------------------------------------- interrupts


def test_second_interrupt_kills_at_once_and_leaves_no_private_folder(project: Project) -> None:
    """kill_grace = 30: the first Ctrl-C would wait up to 65 s for a child that ignores INT and TERM;
    the second one must not wait for the grace at all."""
    gate = project.gate()
    project.toml('[build]\nkill_grace = 30\n\n' + SIMPLE)
    project.write("t.pkr.hcl", null_template(["echo greeting ${var.greeting}", *gate.inline(ignore_signals=True)],
                                             variables='variable "greeting" {\n  type = string\n}\n'))
    given = ["--var", "greeting=hello-there"]
    assert project.run("validate", "a", *given).returncode == 0
    running = project.start("build", "a", *given)
    shell = gate.wait(running.proc)
    pgid = pgid_of(shell)
    assert pgid is not None
    project.watch(pgid)
    private = private_folders(project, running.pid)
    assert private, "no private temp folder seen for the run"
    os.kill(running.pid, signal.SIGINT)
    _wait_for_text(running, "interrupt received", 10.0)
    os.kill(running.pid, signal.SIGINT)
    second = time.monotonic()
    result = running.finish(20.0)
    took = time.monotonic() - second
    survivors = wait_gone(pgid, [shell], 3.0)
    assert result.returncode == 130, result.output[-3000:]
    assert took <= 10.0, f"returned {took:.1f} s after the second interrupt (kill_grace is 30 s)"
    assert survivors == [], f"processes of Packer's group survived: {survivors}"
    assert sorted(str(p) for p in private if p.exists()) == [], "private temp folders left behind"
    assert [r["status"] for r in runs_json(project) if r["kind"] == "build"] == ["interrupted"]


# ----------------------------------------------------------------------------- Packer's environment


def test_packer_temp_files_stay_private_and_no_wrapper_credential_reaches_packer(project: Project) -> None:
    credential = "hc-credential-Zq81xv0"
    gate = project.gate()
    project.toml(SIMPLE)
    project.write("t.pkr.hcl", null_template(["echo step one", *gate.inline()]))
    env = {"HYBRIDCORE_TEST_CREDENTIAL": credential}
    assert project.run("validate", "a", env=env).returncode == 0
    running = project.start("build", "a", env=env)
    try:
        shell = gate.wait(running.proc)
        if (pgid := pgid_of(shell)) is not None:
            project.watch(pgid)
        # Packer's group: the outer and inner Packer, plugins, the provisioner's shell (the wrapper's own
        # watchdog is not Packer's and is left out).
        pids = [p for p in descendants(running.pid) if pgid is not None and pgid_of(p) == pgid]
        environments = {pid: (cmdline(pid), environ(pid)) for pid in pids}
        tmp = Path(environ(shell)["TMPDIR"])
        tmp_mode = stat.S_IMODE(tmp.stat().st_mode)
        packer_files = sorted(p.name for p in tmp.iterdir() if p.name.startswith("packer-shell"))
    finally:
        gate.open()
    result = running.finish(120)
    project.reap(running)
    assert result.returncode == 0, result.output[-3000:]
    assert len(environments) >= 3, "expected Packer, its re-executed child and the provisioner's shell"
    wrapper_vars = {(argv, k) for argv, e in environments.values() for k in e if k.startswith("HYBRIDCORE_")}
    assert {k for _, k in wrapper_vars} == {"HYBRIDCORE_ENV"}, wrapper_vars
    assert not any(credential in v for _, e in environments.values() for v in e.values())
    assert tmp != project.tmpdir and tmp_mode == 0o700, (tmp, oct(tmp_mode))
    assert packer_files, "Packer's inline script was not written in the private TMPDIR"
    assert not tmp.exists(), "the private TMPDIR (with Packer's temp files) outlived the run"


# ------------------------------------------------------------------------------------------- drift


def test_environment_value_read_by_env_is_drift_named_never_shown(project: Project) -> None:
    before, after = "region-value-one-7d1", "region-value-two-9e4"
    project.toml(SIMPLE)
    project.write("t.pkr.hcl", null_template(["echo region ${var.region}"], variables=(
        'variable "region" {\n  type    = string\n  default = env("HCF_REGION")\n}\n')))
    for args in (("validate", "a"), ("build", "a")):
        r = project.run(*args, env={"HCF_REGION": before})
        assert r.returncode == 0, r.output[-3000:]
    assert project.run("drift", "a", env={"HCF_REGION": before}).returncode == 0
    found = project.run("drift", "a", env={"HCF_REGION": after})
    assert found.returncode == 4 and "HCF_REGION" in found.output, found.output
    refused = project.run("build", "a", env={"HCF_REGION": after})
    assert refused.returncode == 4, refused.output[-3000:]
    shown = found.output + refused.output + state_dump(project.state_db)
    assert before not in shown and after not in shown, "a drift report showed the environment's value"


# ------------------------------------------------------------------------------------------ secrets


def test_heuristic_and_url_passwords_printed_by_a_provisioner_are_redacted(project: Project) -> None:
    """DEPLOY_PASSWORD (named like a secret, 8+ characters) and the password inside DATABASE_URL are
    inherited by the provisioner, which prints both; neither may reach what the wrapper keeps."""
    heuristic, url_password = "Hx9deploy-pass-Kq", "UrlPw7secretQz"
    env = {"DEPLOY_PASSWORD": heuristic, "DATABASE_URL": f"postgresql://app:{url_password}@db.example:5432/app"}
    project.toml(SIMPLE)
    project.write("t.pkr.hcl", null_template(['echo "pw=$DEPLOY_PASSWORD"', 'echo "db=$DATABASE_URL" >&2']))
    assert project.run("validate", "a", env=env).returncode == 0
    r = project.run("build", "a", "--json", env=env)
    assert r.returncode == 0, r.output[-3000:]
    assert "pw=" in r.stdout and "db=postgresql://app:" in r.stdout, r.stdout[-3000:]
    channels: dict[str, bytes | str] = {"build stdout": r.stdout, "build stderr": r.stderr,
                                        "state dump": state_dump(project.state_db)}
    channels.update(tree_files(project.root))
    found = [f"{name}: {which}" for which, value in (("heuristic", heuristic), ("url password", url_password))
             for name, data in channels.items()
             if value.encode() in (data.encode() if isinstance(data, str) else data)]
    assert found == [], "a secret got out:\n" + "\n".join(found)
    assert leaks(heuristic, channels) == []


# ------------------------------------------------------------------------------------------- state


def test_full_state_file_system_starts_no_packer(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    with small_tmpfs(mount, "2m"):
        project = Project.create(tmp_path, root=mount)
        try:
            marker = project.outside / "packer-ran"
            project.toml(SIMPLE)
            project.write("t.pkr.hcl", null_template([f"touch {marker}"]))
            assert project.run("validate", "a").returncode == 0
            fill = mount / "fill.bin"
            fd = os.open(fill, os.O_WRONLY | os.O_CREAT, 0o600)
            try:  # fill the file system the state lives on, to the last block
                while os.write(fd, b"\0" * 4096):
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)
            r = project.run("build", "a")
            fill.unlink()
            rows = runs_json(project)
        finally:
            project.close()
    assert r.returncode == 2 and not has_traceback(r.output), r.output[-3000:]
    assert "space" in r.output.lower(), r.output[-3000:]
    assert not marker.exists(), "Packer ran although the state had no room"
    assert [row["kind"] for row in rows] == ["validate"], rows


# --------------------------------------------------------------------------------------- bad input


def test_oversized_text_template_refused_before_packer(project: Project) -> None:
    """A text template over the 8 MiB bound (a generated file, a wrong path) is refused fast, unread."""
    marker = project.outside / "packer-ran"
    project.toml(SIMPLE)
    body = null_template([f"touch {marker}"])
    project.write("t.pkr.hcl", body + ("# " + "x" * 1021 + "\n") * (9 * 1024))
    r = project.run("validate", "a", timeout=30)
    assert r.returncode == 2 and not has_traceback(r.output), r.output[-3000:]
    assert "MiB" in r.output and "t.pkr.hcl" in r.output, r.output[-3000:]
    assert r.elapsed < 30 and not marker.exists()


def test_literal_default_of_a_sensitive_variable_is_redacted(project: Project) -> None:
    secret = "LiteralDefaultSecret42"
    project.toml(SIMPLE)
    project.write("t.pkr.hcl", null_template(["echo raw=${var.pw}"], variables=(
        f'variable "pw" {{\n  type      = string\n  sensitive = true\n  default   = "{secret}"\n}}\n')))
    assert project.run("validate", "a").returncode == 0
    r = project.run("build", "a", "--json")
    assert r.returncode == 0 and "raw=" in r.stdout, r.output[-3000:]
    channels: dict[str, bytes | str] = {"stdout": r.stdout, "state": state_dump(project.state_db)}
    channels.update(tree_files(project.root / ".hybridcore"))
    assert [k for k, v in channels.items() if secret.encode() in (v.encode() if isinstance(v, str) else v)] == []
    assert leaks(secret, channels) == []


def test_cache_prune_removes_only_what_hybridcore_recorded(project: Project) -> None:
    cache = project.outside / "cache"
    cache.mkdir()
    users = cache / "users-own.iso"
    users.write_bytes(b"not hybridcore's")
    os.utime(users, (OLD, OLD))
    r = project.run("cache", "prune", "--older-than", "0", "--cache-dir", str(cache), "--json")
    assert r.returncode == 0, r.output
    assert users.exists(), f"cache prune removed a file hybridcore never created: {r.stdout}"


def test_cache_prune_never_follows_a_quarantine_link(project: Project) -> None:
    cache = project.outside / "cache"
    cache.mkdir()
    victim_dir = project.outside / "victim"
    victim_dir.mkdir()
    victim = victim_dir / "old.bin"
    victim.write_bytes(b"precious")
    os.utime(victim, (OLD, OLD))
    (cache / ".quarantine").symlink_to(victim_dir)
    r = project.run("cache", "prune", "--older-than", "0", "--cache-dir", str(cache))
    assert not has_traceback(r.output), r.output
    assert victim.exists(), "cache prune deleted a file through a .quarantine symlink"
    assert r.returncode == 2 and ".quarantine is a symlink" in r.output, r.output


def test_fifo_var_file_refused_without_hanging(project: Project) -> None:
    project.toml(SIMPLE)
    project.write("t.pkr.hcl", null_template(["echo hi"], variables=(
        'variable "pw" {\n  type = string\n  sensitive = true\n  default = "x"\n}\n')))
    os.mkfifo(project.root / "v.pkrvars.hcl")
    r = project.run("validate", "a", "--var-file", "v.pkrvars.hcl", timeout=10)
    assert r.returncode == 2 and not has_traceback(r.output), r.output


@pytest.mark.parametrize("kind", ["folder", "device", "binary"])
def test_var_file_that_is_not_text_refused_before_packer(project: Project, kind: str) -> None:
    project.toml(SIMPLE)
    project.write("t.pkr.hcl", null_template(["echo hi"]))
    if kind == "folder":
        (project.root / "v.pkrvars.hcl").mkdir()
        arg = "v.pkrvars.hcl"
    elif kind == "device":
        arg = "/dev/zero"
    else:
        (project.root / "v.pkrvars.hcl").write_bytes(b"pw = \"x\"\n\x00\x01")
        arg = "v.pkrvars.hcl"
    r = project.run("validate", "a", "--var-file", arg, timeout=20)
    assert r.returncode == 2 and not has_traceback(r.output), r.output
    assert "var file" in r.output and not (project.root / ".hybridcore" / "runs").exists(), r.output


def test_event_log_is_bounded_like_the_run_logs(project: Project) -> None:
    project.toml("[build]\nlog_max_mb = 1\n\n" + SIMPLE)
    project.write("t.pkr.hcl", null_template(["seq 1 20000"]))  # ~3 MB of events uncapped
    assert project.run("validate", "a").returncode == 0
    r = project.run("build", "a")
    assert r.returncode == 0, r.output[-3000:]
    sizes = {p.name: p.stat().st_size for p in (project.root / ".hybridcore" / "logs").glob("*.jsonl")}
    assert max(sizes.values()) <= 2 << 20, f"JSONL event log over 2 MiB with log_max_mb = 1: {sizes}"
    log = max((project.root / ".hybridcore" / "logs").glob("*.jsonl")).read_text()  # the build's (ULIDs sort)
    assert '"log_truncated"' in log and '"event": "finish"' in log


def test_backslashes_in_an_artifact_path_are_kept(project: Project) -> None:
    project.toml(SIMPLE)
    (project.root / "out").mkdir()
    project.write("t.pkr.hcl", 'source "file" "img" {\n  content = "x"\n  target  = "out/a\\\\new\\\\report.img"\n}\n'
                               'build {\n  sources = ["source.file.img"]\n}\n')
    assert project.run("validate", "a").returncode == 0
    r = project.run("build", "a", "--json")
    assert r.returncode == 0, r.output[-3000:]
    (record,) = [json.loads(p.read_text()) for p in Path(project.root / "artifacts").glob("*.json")]
    assert record["image_ids"] == [str(project.root / "out" / "a\\new\\report.img")], record["image_ids"]
