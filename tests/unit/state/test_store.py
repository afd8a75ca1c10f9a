"""hybridcore.state.StateStore: roundtrips, migrations, refusals and concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from hybridcore.errors import StateError
from hybridcore.state import SCHEMA_VERSION, STATE_URL_ENV, StateStore

pytestmark = pytest.mark.unit


def _run(run_id: str, **kw: Any) -> dict[str, Any]:
    return {"id": run_id, "kind": "build", "target": "vsphere", "env": "dev",
            "argv": ["packer", "build", "-var", "password=<redacted>"], "status": "running",
            "started_at": f"2025-01-01T00:00:{int(run_id[-2:], 16) % 60:02d}+00:00", **kw}


def _db(root: Path) -> Path:
    return root / ".hybridcore" / "state.db"


# --- roundtrips -------------------------------------------------------------------------------------


def test_run_roundtrip_and_upsert(store: StateStore) -> None:
    store.record_run(_run("01AAAA01"))
    started = store.get_run("01AAAA01")
    assert started is not None
    assert started["status"] == "running"
    assert started["argv"] == ["packer", "build", "-var", "password=<redacted>"]
    assert started["exit_code"] is None
    assert started["attempt"] == 1

    # The end-of-run update gives only what changed; the rest is kept.
    store.record_run({"id": "01AAAA01", "status": "failed", "exit_code": 1, "category": "network",
                      "retryable": True, "hint": "retry", "finished_at": "2025-01-01T00:01:00+00:00",
                      "run_dir": "/r/01AAAA01", "attempt": 2, "not_a_column": "ignored"})
    done = store.get_run("01AAAA01")
    assert done == {**started, "status": "failed", "exit_code": 1, "category": "network", "retryable": True,
                    "hint": "retry", "finished_at": "2025-01-01T00:01:00+00:00", "run_dir": "/r/01AAAA01",
                    "attempt": 2}
    assert store.get_run("missing") is None


def test_new_run_defaults_and_requirements(store: StateStore) -> None:
    store.record_run({"id": "R1", "kind": "fmt"})
    run = store.get_run("R1")
    assert run is not None
    assert run["status"] == "running"
    assert run["started_at"].endswith("+00:00")
    with pytest.raises(ValueError, match="kind"):
        store.record_run({"id": "R2", "status": "ok"})
    with pytest.raises(ValueError, match="id"):
        store.record_run({"kind": "fmt"})


def test_list_runs_newest_first_and_filters(store: StateStore) -> None:
    for i in range(10):
        store.record_run(_run(f"01AAAA{i:02x}", kind="validate" if i % 2 else "build",
                              target="aws" if i < 3 else "vsphere"))
    ids = [r["id"] for r in store.list_runs(limit=4)]
    assert ids == ["01AAAA09", "01AAAA08", "01AAAA07", "01AAAA06"]
    assert [r["id"] for r in store.list_runs(target="aws")] == ["01AAAA02", "01AAAA01", "01AAAA00"]
    assert all(r["kind"] == "validate" for r in store.list_runs(kind="validate"))
    assert len(store.list_runs(kind="validate", target="vsphere", limit=100)) == 4  # 3, 5, 7, 9


def test_run_prefix_lookup(store: StateStore) -> None:
    store.record_run(_run("01HXYZ10"))
    store.record_run(_run("01HXYZ11"))
    store.record_run(_run("01HQQQ12"))
    store.record_run(_run("a_b%c13"))
    assert store.get_run("01HQ")["id"] == "01HQQQ12"  # type: ignore[index]
    assert store.get_run("01HXYZ11")["id"] == "01HXYZ11"  # type: ignore[index]
    with pytest.raises(StateError, match="ambiguous"):
        store.get_run("01HXYZ")
    assert store.get_run("01HZ") is None
    # LIKE wildcards in the prefix are literal.
    assert store.get_run("a_b%")["id"] == "a_b%c13"  # type: ignore[index]
    assert store.get_run("a%") is None


def test_runs_say_where_they_run_and_can_be_abandoned(store: StateStore) -> None:
    store.record_run(_run("01AAAA01", host="runner-1", pid=123, boot_id="boot-a", tmp_dir="/tmp/hc-x"))
    store.record_run(_run("01AAAA02", host="runner-2", pid=9))
    store.record_run(_run("01AAAA03", status="ok", exit_code=0))
    assert [r["id"] for r in store.running_runs()] == ["01AAAA02", "01AAAA01"]
    assert [r["id"] for r in store.running_runs(host="runner-1")] == ["01AAAA01"]
    assert store.mark_abandoned("01AAAA01", hint="the wrapper died (pid 123 gone)") is True
    assert store.mark_abandoned("01AAAA01") is False  # a second sweeper loses
    assert store.mark_abandoned("01AAAA03") is False  # finished runs are never touched
    assert store.mark_abandoned("nope") is False
    run = store.get_run("01AAAA01")
    assert run is not None
    assert (run["status"], run["category"], run["hint"]) == ("abandoned", "abandoned", "the wrapper died (pid 123 gone)")
    assert (run["host"], run["pid"], run["boot_id"], run["tmp_dir"]) == ("runner-1", 123, "boot-a", "/tmp/hc-x")
    assert run["finished_at"].endswith("+00:00")
    assert [r["id"] for r in store.running_runs()] == ["01AAAA02"]
    assert [r["id"] for r in store.list_runs(status="abandoned")] == ["01AAAA01"]


def test_concurrent_first_writes_of_one_run_merge(store: StateStore) -> None:
    """Two threads record the same new run at once: one inserts, the other updates; no error."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(status: str) -> None:
        try:
            barrier.wait()
            store.record_run({"id": "RACE", "kind": "build", "status": status})
        except BaseException as exc:  # collected: lost in a thread otherwise
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in ("running", "ok")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    run = store.get_run("RACE")
    assert run is not None and run["status"] in {"running", "ok"}


def test_trusted_roundtrip_and_replace(store: StateStore) -> None:
    assert store.get_trusted("vsphere", "dev") is None
    entries = {"templates/main.pkr.hcl": {"digest": "b3:aa", "size": 10}, "scripts/x.sh": {"digest": "b3:bb"}}
    store.record_run(_run("01AAAA01"))
    store.set_trusted("vsphere", "dev", "b3:root1", entries, trusted_by="01AAAA01", reason="validate")
    got = store.get_trusted("vsphere", "dev")
    assert got is not None
    assert got.pop("trusted_at").endswith("+00:00")
    assert got == {"target": "vsphere", "env": "dev", "digest": "b3:root1", "entries": entries,
                   "trusted_by": "01AAAA01", "reason": "validate"}
    store.set_trusted("vsphere", "dev", "b3:root2", {}, trusted_by="01AAAA02", reason="build")
    again = store.get_trusted("vsphere", "dev")
    assert again is not None
    assert (again["digest"], again["reason"], again["entries"]) == ("b3:root2", "build", {})
    assert store.get_trusted("vsphere", "prod") is None


def test_get_trusted_fast_path_matches_full_path(tmp_path: Path) -> None:
    with StateStore.for_root(tmp_path) as s:
        s.set_trusted("t", "dev", "d", {"f": "x"}, trusted_by="r", reason="validate")
    fresh = StateStore.for_root(tmp_path)
    fast = fresh.get_trusted("t", "dev")
    assert not fresh.uses_sqlalchemy  # served without SQLAlchemy
    assert fresh.get_trusted("nope", "dev") is None
    from hybridcore.state import queries

    with fresh._tx("read", write=False) as tx:  # the same operation on the SQLAlchemy backend
        assert type(tx).__name__ == "SaTx"
        assert queries.get_trusted(tx, "t", "dev") == fast
    assert fresh.uses_sqlalchemy
    fresh.close()


def test_manifest_roundtrip(store: StateStore) -> None:
    store.record_run(_run("01AAAA01"))
    manifest = {"builds": [{"name": "base", "artifact_id": "vm-1"}], "last_run_uuid": "u"}
    store.record_manifest("01AAAA01", "vsphere", manifest, "/logs/01AAAA01/vsphere/manifest.json")
    store.record_manifest("01AAAA01", "aws", {"builds": []}, "/logs/01AAAA01/aws/manifest.json")
    got = store.get_manifests("01AAAA01")
    assert [m["target"] for m in got] == ["aws", "vsphere"]
    assert got[1]["manifest"] == manifest
    assert got[1]["path"] == "/logs/01AAAA01/vsphere/manifest.json"
    # A manifest belongs to a recorded run (foreign keys are on).
    with pytest.raises(StateError, match="rejected"):
        store.record_manifest("no-such-run", "vsphere", manifest, "/x")


def test_artifact_roundtrip_list_and_prefix(store: StateStore) -> None:
    def record(build_id: str, target: str) -> dict[str, Any]:
        return {"build_id": build_id, "target": target, "image_ids": ["ami-1"], "schema_version": 1,
                "provenance": {"command_id": "01AAAA01", "env": "dev", "git_sha": None,
                               "finished_at": "2025-01-01T00:00:00+00:00"}}

    for i, target in enumerate(["aws", "vsphere", "aws"]):
        store.record_artifact(record(f"01JB{i}XYZ", target))
    assert store.get_artifact("01JB1XYZ") == record("01JB1XYZ", "vsphere")
    assert store.get_artifact("01JB2")["target"] == "aws"  # type: ignore[index]
    with pytest.raises(StateError, match="ambiguous"):
        store.get_artifact("01JB")
    assert store.get_artifact("zz") is None
    assert [a["build_id"] for a in store.list_artifacts()] == ["01JB2XYZ", "01JB1XYZ", "01JB0XYZ"]
    assert [a["build_id"] for a in store.list_artifacts(target="aws", limit=1)] == ["01JB2XYZ"]
    updated = {**record("01JB0XYZ", "aws"), "image_ids": ["ami-2"]}
    store.record_artifact(updated)
    assert store.get_artifact("01JB0XYZ") == updated
    with pytest.raises(ValueError, match="build_id"):
        store.record_artifact({"target": "aws"})


# --- files, environment, import cost ----------------------------------------------------------------


def test_file_and_folder_modes(tmp_path: Path) -> None:
    old = os.umask(0)  # prove the modes are set explicitly, not left to the umask
    try:
        with StateStore.for_root(tmp_path) as s:
            s.record_run(_run("01AAAA01"))
    finally:
        os.umask(old)
    assert _db(tmp_path).stat().st_mode & 0o777 == 0o600
    assert _db(tmp_path).parent.stat().st_mode & 0o777 == 0o700
    for extra in _db(tmp_path).parent.iterdir():
        assert extra.stat().st_mode & 0o077 == 0, extra


def test_state_url_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "shared" / "team.db"
    monkeypatch.setenv(STATE_URL_ENV, f"sqlite:///{elsewhere}")
    s = StateStore.for_root(tmp_path / "project")
    assert s.url == f"sqlite:///{elsewhere}"
    s.set_trusted("t", "dev", "d", {}, trusted_by="r", reason="validate")
    s.close()
    assert elsewhere.is_file()
    assert not (tmp_path / "project" / ".hybridcore").exists()
    assert StateStore(f"sqlite:///{elsewhere}").get_trusted("t", "dev") is not None


def test_import_is_cheap_and_fast_read_skips_sqlalchemy(tmp_path: Path) -> None:
    with StateStore.for_root(tmp_path) as s:
        s.set_trusted("t", "dev", "d", {}, trusted_by="r", reason="validate")
    code = (
        "import sys; from pathlib import Path; import hybridcore.state as st\n"
        "assert 'sqlalchemy' not in sys.modules, 'import pulled sqlalchemy'\n"
        f"assert st.StateStore.for_root(Path({str(tmp_path)!r})).get_trusted('t', 'dev')['digest'] == 'd'\n"
        "assert 'sqlalchemy' not in sys.modules, 'fast path pulled sqlalchemy'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop(STATE_URL_ENV, None)
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# --- refusals: corrupt, truncated, newer, foreign ---------------------------------------------------


def _assert_refused_untouched(path: Path) -> None:
    before = path.read_bytes()
    siblings = sorted(p.name for p in path.parent.iterdir())
    s = StateStore(f"sqlite:///{path}")
    with pytest.raises(StateError) as info:
        s.get_trusted("t", "dev")
    assert str(path) in str(info.value)
    assert "move" in info.value.hint
    with pytest.raises(StateError):
        s.record_run(_run("01AAAA01"))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == siblings


def test_garbage_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(random.Random(7).randbytes(8192))
    _assert_refused_untouched(path)


def test_short_garbage_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"not a db\n")
    _assert_refused_untouched(path)


def test_truncated_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(f"sqlite:///{path}") as s:
        for i in range(200):  # enough rows for several pages
            s.record_run(_run(f"01AAAA{i:02x}", hint="x" * 200))
    assert not path.with_name("state.db-wal").exists()  # the last close checkpointed
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_refused_untouched(path)


def test_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(f"sqlite:///{path}") as s:
        s.set_trusted("t", "dev", "d", {}, trusted_by="r", reason="validate")
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = DELETE")  # self-contained file for a byte comparison
    with con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.close()
    path.with_name("state.db.lock").unlink()  # left by the creation above
    before = path.read_bytes()
    s = StateStore(f"sqlite:///{path}")
    with pytest.raises(StateError, match="newer") as info:
        s.get_trusted("t", "dev")
    assert "upgrade" in info.value.hint
    with pytest.raises(StateError, match="newer"):
        s.schema_version()
    assert path.read_bytes() == before
    assert not path.with_name("state.db.lock").exists()  # never got as far as migrating


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    con.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match="no hybridcore schema version"):
        StateStore(f"sqlite:///{path}").schema_version()
    assert path.read_bytes() == before


# --- migration --------------------------------------------------------------------------------------


def test_migrates_hand_made_v1_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    # A v1 file exactly as the first release left it: plain sqlite3, rollback journal, v1 tables.
    con = sqlite3.connect(path)
    with con:
        con.executescript("""
            CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE runs (id VARCHAR(64) PRIMARY KEY, kind VARCHAR(32) NOT NULL, target TEXT,
                env VARCHAR(128), argv TEXT, exit_code INTEGER, status VARCHAR(32) NOT NULL,
                category VARCHAR(64), retryable BOOLEAN, hint TEXT, started_at VARCHAR(40) NOT NULL,
                finished_at VARCHAR(40), run_dir TEXT);
            CREATE TABLE trusted (target VARCHAR(255) NOT NULL, env VARCHAR(128) NOT NULL,
                digest VARCHAR(128) NOT NULL, entries TEXT NOT NULL, trusted_by VARCHAR(64) NOT NULL,
                trusted_at VARCHAR(40) NOT NULL, reason VARCHAR(32) NOT NULL, PRIMARY KEY (target, env));
            CREATE TABLE manifests (run_id VARCHAR(64) NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                target VARCHAR(255) NOT NULL, manifest TEXT NOT NULL, path TEXT NOT NULL,
                recorded_at VARCHAR(40) NOT NULL, PRIMARY KEY (run_id, target));
            INSERT INTO meta VALUES ('schema_version', '1');
            INSERT INTO runs VALUES ('01OLD', 'validate', 'vsphere', 'dev', '["packer","validate"]', 0, 'ok',
                NULL, 0, NULL, '2024-06-01T00:00:00+00:00', '2024-06-01T00:00:05+00:00', '/r/01OLD');
            INSERT INTO trusted VALUES ('vsphere', 'dev', 'b3:old', '{"a.pkr.hcl":"b3:1"}', '01OLD',
                '2024-06-01T00:00:05+00:00', 'validate');
            INSERT INTO manifests VALUES ('01OLD', 'vsphere', '{"builds":[]}', '/m.json',
                '2024-06-01T00:00:05+00:00');
        """)
    con.close()

    s = StateStore(f"sqlite:///{path}")
    assert s.schema_version() == SCHEMA_VERSION == 3
    run = s.get_run("01OLD")
    assert run is not None
    assert (run["kind"], run["status"], run["argv"], run["retryable"], run["attempt"]) == (
        "validate", "ok", ["packer", "validate"], False, 1)
    trusted = s.get_trusted("vsphere", "dev")
    assert trusted is not None
    assert (trusted["digest"], trusted["entries"]) == ("b3:old", {"a.pkr.hcl": "b3:1"})
    assert s.get_manifests("01OLD")[0]["manifest"] == {"builds": []}
    # What v2 added works on the migrated file.
    s.record_run(_run("01AAAA01", attempt=3))
    assert s.get_run("01AAAA01")["attempt"] == 3  # type: ignore[index]
    s.record_artifact({"build_id": "01B", "target": "vsphere", "provenance": {"command_id": "01OLD"}})
    assert s.get_artifact("01B") is not None
    s.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    # Reopening does not migrate again.
    with StateStore(f"sqlite:///{path}") as again:
        assert again.schema_version() == SCHEMA_VERSION
        assert len(again.list_runs()) == 2


def test_schema_v1_builder_matches_hand_made_v1(tmp_path: Path) -> None:
    """schema.create_v1 (the frozen v1 DDL) migrates like the hand-made file above."""
    from sqlalchemy import create_engine

    from hybridcore.state import migrations

    path = tmp_path / "state.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        migrations.create_v1(conn)
    engine.dispose()
    with StateStore(f"sqlite:///{path}") as s:
        assert s.schema_version() == SCHEMA_VERSION
        s.record_artifact({"build_id": "01B", "target": "t", "provenance": {}})


# --- concurrency ------------------------------------------------------------------------------------

N_RUNS = 50


def _writer(url: str, worker: int) -> None:
    """One writer: 50 runs (start + end update), trust updated after each, reads interleaved."""
    s = StateStore(url)
    try:
        for i in range(N_RUNS):
            run_id = f"w{worker:02d}-{i:03d}"
            s.record_run({"id": run_id, "kind": "build", "target": f"t{worker}", "env": "dev",
                          "argv": ["packer", "build"], "started_at": f"2025-01-01T00:{i:02d}:00+00:00"})
            s.set_trusted(f"t{worker}", "dev", f"digest-{i}", {"i": i}, trusted_by=run_id, reason="build")
            s.set_trusted("shared", "dev", f"{worker}-{i}", {}, trusted_by=run_id, reason="build")
            s.record_run({"id": run_id, "status": "ok", "exit_code": 0})
            assert s.get_trusted(f"t{worker}", "dev") is not None
    finally:
        s.close()


def _check_all_written(url: str, workers: int) -> None:
    with StateStore(url) as s:
        runs = s.list_runs(limit=10_000)
        assert len(runs) == workers * N_RUNS
        assert {r["status"] for r in runs} == {"ok"}
        for w in range(workers):
            trusted = s.get_trusted(f"t{w}", "dev")
            assert trusted is not None
            assert trusted["digest"] == f"digest-{N_RUNS - 1}"
            assert trusted["entries"] == {"i": N_RUNS - 1}
        assert s.get_trusted("shared", "dev") is not None


def test_threads_write_concurrently(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    shared = StateStore(url)  # one store shared by all threads, opened by whichever gets there first
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(N_RUNS):
                run_id = f"w{worker:02d}-{i:03d}"
                shared.record_run({"id": run_id, "kind": "build", "target": f"t{worker}",
                                   "started_at": f"2025-01-01T00:{i:02d}:00+00:00"})
                shared.set_trusted(f"t{worker}", "dev", f"digest-{i}", {"i": i}, trusted_by=run_id,
                                   reason="build")
                shared.set_trusted("shared", "dev", f"{worker}-{i}", {}, trusted_by=run_id, reason="build")
                shared.record_run({"id": run_id, "status": "ok", "exit_code": 0})
                assert shared.get_trusted(f"t{worker}", "dev") is not None
        except BaseException as exc:  # collected: an exception in a thread would otherwise be lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    assert errors == []
    _check_all_written(url, 8)


def test_processes_write_concurrently(tmp_path: Path) -> None:
    # Spawned processes all open a database that does not exist yet: creation races too.
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    _check_all_written(url, 4)


def test_hot_writes_on_a_healthy_file_skip_sqlalchemy(tmp_path: Path) -> None:
    """The CLI's per-command writes go through stdlib sqlite3 and land exactly as the full path reads them."""
    import subprocess
    import sys
    import textwrap

    db = tmp_path / "state.db"
    seed = StateStore(f"sqlite:///{db}")
    seed.record_run({"id": "seed", "kind": "validate"})  # creates the schema (full path)
    seed.close()
    code = textwrap.dedent(f"""
        import sys
        from hybridcore.state import StateStore
        s = StateStore("sqlite:///{db}")
        s.record_run({{"id": "C1/web", "kind": "build", "target": "web", "env": "dev", "argv": ["packer", "build"]}})
        s.record_run({{"id": "C1/web", "status": "ok", "exit_code": 0, "retryable": False}})
        s.set_trusted("web", "dev", "blake3:aa", {{"files": {{"a": "b"}}}}, trusted_by="C1/web", reason="build")
        s.set_trusted("web", "dev", "blake3:bb", {{"files": {{}}}}, trusted_by="C1/web", reason="validate")
        s.record_manifest("C1/web", "web", {{"builds": []}}, "/m.json")
        s.record_artifact({{"build_id": "B1", "target": "web", "provenance": {{"command_id": "C1", "env": "dev"}}}})
        assert s.get_trusted("web", "dev")["digest"] == "blake3:bb"
        with s.build_lock("web", "dev", command_id="C1"):
            assert s.lock_holder("web", "dev")["command_id"] == "C1"
        s.record_run({{"id": "C2", "kind": "build", "host": "h", "pid": 1, "boot_id": "b", "tmp_dir": "/t"}})
        assert s.mark_abandoned("C2")
        print("sqlalchemy" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    full = StateStore(f"sqlite:///{db}")
    run = full.get_run("C1/web")
    assert run is not None and run["status"] == "ok" and run["exit_code"] == 0 and run["retryable"] is False
    assert run["argv"] == ["packer", "build"] and run["kind"] == "build"
    trusted = full.get_trusted("web", "dev")
    assert trusted is not None and trusted["reason"] == "validate" and trusted["entries"] == {"files": {}}
    assert full.get_manifests("C1/web")[0]["manifest"] == {"builds": []}
    assert full.get_artifact("B1") == {"build_id": "B1", "target": "web",
                                       "provenance": {"command_id": "C1", "env": "dev"}}
    abandoned = full.get_run("C2")
    assert abandoned is not None and abandoned["status"] == "abandoned" and abandoned["tmp_dir"] == "/t"
    assert full.lock_holder("web", "dev") is None
    full.close()


def test_hot_write_of_a_manifest_for_an_unknown_run_is_a_state_error(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    seed = StateStore(f"sqlite:///{db}")
    seed.record_run({"id": "seed", "kind": "validate"})
    seed.close()
    fresh = StateStore(f"sqlite:///{db}")
    with pytest.raises(StateError):
        fresh.record_manifest("nope", "web", {}, "/m.json")
    assert not fresh.uses_sqlalchemy  # the refusal came from the sqlite3 path


def test_exists_creates_nothing_and_check_writable(any_url: str) -> None:
    store = StateStore(any_url)
    assert store.exists() is False
    assert store.exists() is False  # asking created nothing
    store.check_writable()  # creates it, like any first write
    assert store.exists() is True
    assert StateStore(any_url).exists() is True
    store.close()


def test_check_writable_refuses_a_read_only_state(tmp_path: Path) -> None:
    """A state file that cannot be written (read-only mode; as root, which ignores modes: immutable):
    reads still work, the write check refuses."""
    db = tmp_path / "state.db"
    with StateStore(f"sqlite:///{db}") as s:
        s.set_trusted("t", "dev", "d", {}, trusted_by="r", reason="validate")
    as_root = os.geteuid() == 0
    subprocess.run(["chattr", "+i", str(db)], check=True) if as_root else db.chmod(0o444)
    try:
        s = StateStore(f"sqlite:///{db}")
        assert s.get_trusted("t", "dev") is not None
        with pytest.raises(StateError, match=r"readonly|read-only|read only|unable to open"):
            s.check_writable()
        s.close()
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True) if as_root else db.chmod(0o600)
    # Not in WAL mode (as an old file may be): switching needs a write, refused as a StateError too.
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    subprocess.run(["chattr", "+i", str(db)], check=True) if as_root else db.chmod(0o444)
    try:
        with pytest.raises(StateError, match=r"readonly|read-only|read only|unable to open"):
            StateStore(f"sqlite:///{db}").get_trusted("t", "dev")
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True) if as_root else db.chmod(0o600)
