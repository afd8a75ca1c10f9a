"""Build locks on both backends: one holder per (target, env), a timeout that names the holder, and a
holder killed with SIGKILL releases (PostgreSQL: the server ends its session; SQLite: the kernel drops
the flock)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hybridcore.state import LockTimeout, StateStore

pytestmark = pytest.mark.unit


@contextmanager
def _holder(url: str, target: str, env: str, command_id: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the build lock until it reads a line (or is killed)."""
    code = textwrap.dedent(f"""
        import sys
        from hybridcore.state import StateStore
        store = StateStore({url!r})
        with store.build_lock({target!r}, {env!r}, timeout_s=30, command_id={command_id!r}):
            print("held", flush=True)
            sys.stdin.readline()
        print("released", flush=True)
    """)
    env_vars = {k: v for k, v in os.environ.items() if k != "HYBRIDCORE_STATE_URL"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env_vars)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "held\n", (line, proc.stderr.read() if proc.stderr else "")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_timeout_names_the_holder_and_sigkill_releases(any_url: str) -> None:
    store = StateStore(any_url)
    store.record_run({"id": "seed", "kind": "validate"})  # the state exists, as for any build
    with _holder(any_url, "vsphere", "prod", "01HOLDER") as proc:
        started = time.monotonic()
        with pytest.raises(LockTimeout) as info:
            store.build_lock("vsphere", "prod", timeout_s=0.3, command_id="01WAITER")
        assert time.monotonic() - started >= 0.3
        err = info.value
        assert err.holder is not None
        assert (err.holder["host"], err.holder["pid"], err.holder["command_id"]) == (
            socket.gethostname(), proc.pid, "01HOLDER")
        assert f"pid {proc.pid}" in str(err) and "01HOLDER" in str(err)
        assert (err.exit_code, err.category, err.retryable) == (75, "locked", False)
        assert err.to_dict()["holder"]["command_id"] == "01HOLDER"
        # Other targets and other envs of the same target are free meanwhile.
        with store.build_lock("vsphere", "dev"), store.build_lock("aws", "prod"):
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # The dead holder's lock is released by the server / the kernel; waiting gets it.
        with store.build_lock("vsphere", "prod", timeout_s=30, command_id="01WAITER") as lock:
            holder = store.lock_holder("vsphere", "prod")
            assert holder is not None
            assert (holder["pid"], holder["command_id"]) == (os.getpid(), "01WAITER")
            assert lock.holder["command_id"] == "01WAITER"
    assert store.lock_holder("vsphere", "prod") is None  # released: the holder row went with it
    store.close()


def test_waiter_gets_the_lock_when_the_holder_releases(any_url: str) -> None:
    store = StateStore(any_url)
    store.record_run({"id": "seed", "kind": "validate"})
    got: list[str] = []
    errors: list[BaseException] = []
    with _holder(any_url, "web", "dev", "01FIRST") as proc:
        with pytest.raises(LockTimeout):
            store.build_lock("web", "dev", timeout_s=0)

        def wait() -> None:
            try:
                with store.build_lock("web", "dev", timeout_s=60, command_id="01SECOND") as lock:
                    got.append(str(lock.holder["command_id"]))
            except BaseException as exc:  # collected: lost in a thread otherwise
                errors.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "released\n"
        waiter.join(timeout=60)
    assert errors == []
    assert got == ["01SECOND"]
    store.close()


def test_one_holder_per_target_within_a_process(store: StateStore) -> None:
    store.record_run({"id": "seed", "kind": "validate"})
    lock = store.build_lock("t", "dev", command_id="A")
    assert lock.held
    with pytest.raises(LockTimeout) as info:
        store.build_lock("t", "dev", timeout_s=0, command_id="B")
    assert info.value.holder is not None and info.value.holder["command_id"] == "A"
    other = StateStore(store.url)  # another store of the same process: excluded as well
    with pytest.raises(LockTimeout):
        other.build_lock("t", "dev", timeout_s=0.05)
    lock.release()
    lock.release()  # idempotent
    assert not lock.held
    with other.build_lock("t", "dev", command_id="C"):
        assert store.lock_holder("t", "dev")["command_id"] == "C"  # type: ignore[index]
    other.close()


def test_sqlite_lock_files_are_private(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    db = Path(tmp_path) / "state.db"
    old = os.umask(0)
    try:
        with StateStore(f"sqlite:///{db}") as s, s.build_lock("t", "dev"):
            pass
    finally:
        os.umask(old)
    folder = db.with_name("state.db.locks")
    assert folder.stat().st_mode & 0o777 == 0o700
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600


def test_stale_holder_row_of_a_dead_process_is_not_a_holder(tmp_path: os.PathLike[str]) -> None:
    """SQLite: a row left by a killed holder (no lock held) does not name a holder."""
    from hybridcore.state.common import boot_id

    db = f"sqlite:///{tmp_path}/state.db"
    with StateStore(db) as s:
        s.record_run({"id": "seed", "kind": "validate"})
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        with s._tx("t", write=True) as tx:
            tx.run("INSERT INTO build_locks (target, env, host, pid, boot_id, command_id, acquired_at)"
                   " VALUES ('t', 'dev', :host, :pid, :boot, 'OLD', 'x')",
                   {"host": socket.gethostname(), "pid": int(dead.stdout), "boot": boot_id()})
        assert s.lock_holder("t", "dev") is None
        with s.build_lock("t", "dev", command_id="NEW"):
            assert s.lock_holder("t", "dev")["command_id"] == "NEW"  # type: ignore[index]


def test_lock_timeout_pickles() -> None:
    import pickle

    err = LockTimeout("t", "dev", {"host": "h", "pid": 1, "command_id": "C"}, 1.5)
    back = pickle.loads(pickle.dumps(err))
    assert (back.target, back.env, back.holder, back.waited_s, str(back)) == ("t", "dev", err.holder, 1.5, str(err))


def test_abandoned_runs(any_url: str) -> None:
    """Same host: dead pid or another boot. Other host: only PostgreSQL can tell, by the build lock."""
    from hybridcore.state.common import this_process

    here = this_process()
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    store = StateStore(any_url)
    base = {"kind": "build", "target": "web", "env": "dev", "host": here["host"], "boot_id": here["boot_id"]}
    store.record_run({"id": "ALIVE", **base, "pid": os.getpid()})
    store.record_run({"id": "DEAD", **base, "pid": dead, "tmp_dir": "/tmp/hc-dead"})
    store.record_run({"id": "REBOOTED", **base, "pid": os.getpid(), "boot_id": "an-earlier-boot"})
    store.record_run({"id": "OLD", "kind": "build"})  # pre-v3 row: no host, never judged
    store.record_run({"id": "FAR/web", **base, "host": "runner-far", "pid": 7})
    store.record_run({"id": "FARVAL", **base, "kind": "validate", "host": "runner-far", "pid": 8})
    store.record_run({"id": "HELD/aws", **base, "target": "aws", "host": "runner-far", "pid": 9})
    store.record_run({"id": "DONE", **base, "pid": dead, "status": "ok"})
    pg = store.dialect == "postgresql"
    with store.build_lock("aws", "dev", command_id="HELD"):  # as runner-far's live build would hold it
        found = {r["id"]: r["why"] for r in store.abandoned_runs()}
        assert set(found) == {"DEAD", "REBOOTED"} | ({"FAR/web"} if pg else set())
        assert str(dead) in found["DEAD"] and "rebooted" in found["REBOOTED"]
        for run_id in found:
            assert store.mark_abandoned(run_id)
        assert store.abandoned_runs() == []
    # runner-far's build lock is gone now: on PostgreSQL its run is dead too.
    assert [r["id"] for r in store.abandoned_runs()] == (["HELD/aws"] if pg else [])
    store.close()
