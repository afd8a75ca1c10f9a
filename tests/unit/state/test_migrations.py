"""Schema migrations on SQLite and PostgreSQL: from hand-made v1 and v2 databases to the current
schema, which must equal what a fresh database gets; a newer schema is refused."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from tests.support.postgres import execute

from hybridcore.errors import StateError
from hybridcore.state import SCHEMA_VERSION, StateStore

pytestmark = pytest.mark.unit

# A v2 database exactly as the second release left it (portable DDL: runs on both backends).
V2 = [
    "CREATE TABLE meta (key VARCHAR(64) NOT NULL PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE runs (id VARCHAR(64) NOT NULL PRIMARY KEY, kind VARCHAR(32) NOT NULL, target TEXT,"
    " env VARCHAR(128), argv TEXT, exit_code INTEGER, status VARCHAR(32) NOT NULL, category VARCHAR(64),"
    " retryable BOOLEAN, hint TEXT, started_at VARCHAR(40) NOT NULL, finished_at VARCHAR(40), run_dir TEXT,"
    " attempt INTEGER NOT NULL DEFAULT 1)",
    "CREATE INDEX ix_runs_started_at ON runs (started_at)",
    "CREATE INDEX ix_runs_target ON runs (target)",
    "CREATE TABLE trusted (target VARCHAR(255) NOT NULL, env VARCHAR(128) NOT NULL, digest VARCHAR(128) NOT NULL,"
    " entries TEXT NOT NULL, trusted_by VARCHAR(64) NOT NULL, trusted_at VARCHAR(40) NOT NULL,"
    " reason VARCHAR(32) NOT NULL, PRIMARY KEY (target, env))",
    "CREATE TABLE manifests (run_id VARCHAR(64) NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    " target VARCHAR(255) NOT NULL, manifest TEXT NOT NULL, path TEXT NOT NULL, recorded_at VARCHAR(40) NOT NULL,"
    " PRIMARY KEY (run_id, target))",
    "CREATE TABLE artifacts (build_id VARCHAR(64) NOT NULL PRIMARY KEY, target VARCHAR(255) NOT NULL,"
    " env VARCHAR(128), run_id VARCHAR(64), record TEXT NOT NULL, created_at VARCHAR(40) NOT NULL)",
    "CREATE INDEX ix_artifacts_target ON artifacts (target)",
    "INSERT INTO meta (key, value) VALUES ('schema_version', '2')",
    "INSERT INTO runs VALUES ('01OLD', 'build', 'vsphere', 'dev', '[\"packer\",\"build\"]', 0, 'ok', NULL, FALSE,"
    " NULL, '2025-06-01T00:00:00+00:00', '2025-06-01T00:05:00+00:00', '/r/01OLD', 2)",
    "INSERT INTO trusted VALUES ('vsphere', 'dev', 'b3:old', '{\"a.pkr.hcl\":\"b3:1\"}', '01OLD',"
    " '2025-06-01T00:05:00+00:00', 'build')",
    "INSERT INTO manifests VALUES ('01OLD', 'vsphere', '{\"builds\":[]}', '/m.json', '2025-06-01T00:05:00+00:00')",
]


def _record(build_id: str, platform: str | None, region: str | None) -> str:
    return json.dumps({"build_id": build_id, "target": "vsphere", "platform": platform, "region": region,
                       "image_ids": [f"vm-{build_id}"], "provenance": {"command_id": "01OLD", "env": "dev"}})


ARTIFACT_ROWS = [
    f"INSERT INTO artifacts VALUES ('{bid}', 'vsphere', 'dev', '01OLD', '{_record(bid, p, r)}',"
    " '2025-06-01T00:05:00+00:00')"
    for bid, p, r in (("01B1", "vsphere", "dc1"), ("01B2", "vsphere", "dc2"), ("01B3", None, None))
] + ["INSERT INTO artifacts VALUES ('01BAD', 'vsphere', 'dev', NULL, 'not json', '2025-06-01T00:05:00+00:00')"]


def _make(url: str, statements: list[str]) -> None:
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        with con:
            for sql in statements:
                con.execute(sql)
        con.close()
    else:
        execute(url, *statements)


@pytest.fixture
def v2_url(any_url: str) -> str:
    if any_url.startswith("sqlite"):
        Path(any_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    _make(any_url, V2 + ARTIFACT_ROWS)
    return any_url


def test_hand_made_v2_database_migrates_to_current(v2_url: str) -> None:
    with StateStore(v2_url) as s:
        assert s.schema_version() == SCHEMA_VERSION == 3
        run = s.get_run("01OLD")
        assert run is not None
        assert (run["status"], run["attempt"], run["argv"], run["retryable"]) == ("ok", 2, ["packer", "build"], False)
        assert (run["host"], run["pid"], run["boot_id"], run["tmp_dir"]) == (None, None, None, None)
        trusted = s.get_trusted("vsphere", "dev")
        assert trusted is not None and trusted["digest"] == "b3:old"
        assert s.get_manifests("01OLD")[0]["manifest"] == {"builds": []}
        # platform/region were copied out of the old records: latest can filter on them.
        assert s.latest_artifact("vsphere", platform="vsphere", region="dc1")["build_id"] == "01B1"  # type: ignore[index]
        assert s.latest_artifact("vsphere", region="dc2")["build_id"] == "01B2"  # type: ignore[index]
        assert s.latest_artifact("vsphere", platform="aws") is None
        # What v3 added works on the migrated database.
        s.record_run({"id": "01NEW", "kind": "build", "host": "runner-1", "pid": 42, "boot_id": "b",
                      "tmp_dir": "/tmp/hc-1"})
        assert [r["id"] for r in s.running_runs()] == ["01NEW"]
        assert s.mark_abandoned("01NEW") is True
        s.promote("01B1", "prod", who="ci")
        assert s.channels_of("01B1") == ["prod"]
        with s.build_lock("vsphere", "dev", command_id="01NEW") as lock:
            assert s.lock_holder("vsphere", "dev")["command_id"] == "01NEW"  # type: ignore[index]
        assert not lock.held
    with StateStore(v2_url) as again:  # reopening does not migrate again
        assert again.schema_version() == SCHEMA_VERSION
        assert again.get_run("01NEW")["status"] == "abandoned"  # type: ignore[index]


def _columns(url: str) -> dict[str, object]:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        insp = inspect(engine)
        out: dict[str, object] = {}
        for table in sorted(insp.get_table_names()):
            out[table] = (
                [(c["name"], c["nullable"], type(c["type"]).__name__) for c in insp.get_columns(table)],
                sorted(insp.get_pk_constraint(table)["constrained_columns"]),
                sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(table)),
            )
        return out
    finally:
        engine.dispose()


def test_migrated_schema_equals_fresh_schema(any_url: str, request: pytest.FixtureRequest,
                                             tmp_path: Path) -> None:
    """A database created at v1 and walked through every migration ends where create_latest starts."""
    from sqlalchemy import create_engine

    from hybridcore.state import migrations

    if any_url.startswith("sqlite"):
        fresh, old = f"sqlite:///{tmp_path / 'fresh.db'}", f"sqlite:///{tmp_path / 'old.db'}"
    else:
        fresh, old = any_url, request.getfixturevalue("pg_server").new_database()
    engine = create_engine(old)
    with engine.begin() as conn:
        migrations.create_v1(conn)
    engine.dispose()
    for url in (fresh, old):
        with StateStore(url) as s:
            assert s.schema_version() == SCHEMA_VERSION
    got_fresh, got_old = _columns(fresh), _columns(old)
    assert got_fresh == got_old
    assert {"artifact_events", "build_locks"} <= set(got_fresh)


def test_create_v2_builder_matches_hand_made_v2(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from hybridcore.state import migrations

    built, hand = tmp_path / "built.db", tmp_path / "hand.db"
    engine = create_engine(f"sqlite:///{built}")
    with engine.begin() as conn:
        migrations.create_v2(conn)
    engine.dispose()
    _make(f"sqlite:///{hand}", V2[:9])
    assert _columns(f"sqlite:///{built}") == _columns(f"sqlite:///{hand}")


def test_newer_schema_is_refused_on_postgres(pg_url: str) -> None:
    with StateStore(pg_url) as s:
        s.record_run({"id": "r", "kind": "fmt"})
    execute(pg_url, f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match="newer") as info:
        StateStore(pg_url).get_run("r")
    assert not getattr(info.value, "unavailable", False)


def test_foreign_postgres_database_is_refused(pg_url: str) -> None:
    execute(pg_url, "CREATE TABLE users (id INTEGER PRIMARY KEY)")
    with pytest.raises(StateError, match="no hybridcore schema version"):
        StateStore(pg_url).schema_version()


def test_concurrent_openers_migrate_once(v2_url: str) -> None:
    """Several stores open one old database at once: one migrates (setup lock), the others wait and
    find it done; nobody fails and nothing is migrated twice (a second ALTER would fail)."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    versions: list[int] = []

    def open_it() -> None:
        try:
            barrier.wait()
            with StateStore(v2_url) as s:
                versions.append(s.schema_version())
        except BaseException as exc:  # collected: lost in a thread otherwise
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert versions == [SCHEMA_VERSION] * 4


def test_schema_seen_half_made_is_judged_under_the_setup_lock(any_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the first look at a database (outside the setup lock) can run while another process
    commits its creation, finding no version but already tables; that is not a foreign database. Only
    the look under the lock decides."""
    from hybridcore.state import schema

    with StateStore(any_url) as s:
        s.record_run({"id": "r0", "kind": "fmt"})
    real = schema.read_version
    calls: list[int | None] = []

    def racing(conn: object) -> int | None:
        calls.append(None if not calls else real(conn))  # type: ignore[arg-type]
        return calls[-1]

    monkeypatch.setattr(schema, "read_version", racing)
    with StateStore(any_url) as s:
        s.record_run({"id": "r1", "kind": "fmt"})
        assert len(s.list_runs()) == 2
    assert calls[0] is None and calls[-1] == SCHEMA_VERSION
