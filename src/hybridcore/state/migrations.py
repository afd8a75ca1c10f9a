"""Ordered migrations of the state schema, each with its own frozen DDL.

``MIGRATIONS[n - 1]`` turns a version-``n`` database into version ``n + 1``. Each step is plain DDL text
(portable between SQLite and PostgreSQL) and never the current ``Table`` objects, which keep evolving, so
an old database always walks the same path whatever the current schema is. ``create_v1``/``create_v2``
build the released schemas as they were, for tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import Connection, text

from hybridcore.state.common import SCHEMA_VERSION

_V1 = [
    "CREATE TABLE meta (key VARCHAR(64) NOT NULL PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE runs (id VARCHAR(64) NOT NULL PRIMARY KEY, kind VARCHAR(32) NOT NULL, target TEXT,"
    " env VARCHAR(128), argv TEXT, exit_code INTEGER, status VARCHAR(32) NOT NULL, category VARCHAR(64),"
    " retryable BOOLEAN, hint TEXT, started_at VARCHAR(40) NOT NULL, finished_at VARCHAR(40), run_dir TEXT)",
    "CREATE TABLE trusted (target VARCHAR(255) NOT NULL, env VARCHAR(128) NOT NULL,"
    " digest VARCHAR(128) NOT NULL, entries TEXT NOT NULL, trusted_by VARCHAR(64) NOT NULL,"
    " trusted_at VARCHAR(40) NOT NULL, reason VARCHAR(32) NOT NULL, PRIMARY KEY (target, env))",
    "CREATE TABLE manifests (run_id VARCHAR(64) NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    " target VARCHAR(255) NOT NULL, manifest TEXT NOT NULL, path TEXT NOT NULL,"
    " recorded_at VARCHAR(40) NOT NULL, PRIMARY KEY (run_id, target))",
    "INSERT INTO meta (key, value) VALUES ('schema_version', '1')",
]


def create_v1(conn: Connection) -> None:
    """The first released schema, frozen."""
    for ddl in _V1:
        conn.execute(text(ddl))


def create_v2(conn: Connection) -> None:
    """The second released schema, frozen: v1 walked forward by its migration."""
    create_v1(conn)
    _v1_to_v2(conn)
    conn.execute(text("UPDATE meta SET value = '2' WHERE key = 'schema_version'"))


def _v1_to_v2(conn: Connection) -> None:
    """v2: retries are recorded (``runs.attempt``), artifact records get their own table, runs indexed."""
    conn.execute(text("ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1"))
    conn.execute(text("CREATE INDEX ix_runs_started_at ON runs (started_at)"))
    conn.execute(text("CREATE INDEX ix_runs_target ON runs (target)"))
    conn.execute(text(
        "CREATE TABLE artifacts ("
        " build_id VARCHAR(64) NOT NULL PRIMARY KEY,"
        " target VARCHAR(255) NOT NULL,"
        " env VARCHAR(128),"
        " run_id VARCHAR(64),"
        " record TEXT NOT NULL,"
        " created_at VARCHAR(40) NOT NULL)"
    ))
    conn.execute(text("CREATE INDEX ix_artifacts_target ON artifacts (target)"))


def _v2_to_v3(conn: Connection) -> None:
    """v3: runs say where they run (abandoned-run sweep), the registry gets channels and revocations
    (an append-only event table), build locks get their holder table, artifacts their platform/region."""
    for column in ("host VARCHAR(255)", "pid INTEGER", "boot_id VARCHAR(64)", "tmp_dir TEXT"):
        conn.execute(text(f"ALTER TABLE runs ADD COLUMN {column}"))
    conn.execute(text("CREATE INDEX ix_runs_status ON runs (status)"))
    conn.execute(text("ALTER TABLE artifacts ADD COLUMN platform VARCHAR(64)"))
    conn.execute(text("ALTER TABLE artifacts ADD COLUMN region VARCHAR(128)"))
    for build_id, record in conn.execute(text("SELECT build_id, record FROM artifacts")).all():
        try:
            data = json.loads(record)
        except ValueError:
            continue  # unreadable records keep NULLs: `latest` then never matches them by platform
        if isinstance(data, dict):
            conn.execute(text("UPDATE artifacts SET platform = :p, region = :r WHERE build_id = :b"),
                         {"p": _text_or_none(data.get("platform")), "r": _text_or_none(data.get("region")),
                          "b": build_id})
    conn.execute(text(
        "CREATE TABLE artifact_events ("
        " id VARCHAR(64) NOT NULL PRIMARY KEY,"
        " build_id VARCHAR(64) NOT NULL,"
        " action VARCHAR(16) NOT NULL,"
        " channel VARCHAR(128),"
        " reason TEXT,"
        " who VARCHAR(255) NOT NULL,"
        " at VARCHAR(40) NOT NULL)"
    ))
    conn.execute(text("CREATE INDEX ix_artifact_events_build_id ON artifact_events (build_id)"))
    conn.execute(text("CREATE INDEX ix_artifact_events_channel ON artifact_events (channel)"))
    conn.execute(text(
        "CREATE TABLE build_locks ("
        " target VARCHAR(255) NOT NULL,"
        " env VARCHAR(128) NOT NULL,"
        " host VARCHAR(255) NOT NULL,"
        " pid INTEGER NOT NULL,"
        " boot_id VARCHAR(64),"
        " command_id VARCHAR(64),"
        " acquired_at VARCHAR(40) NOT NULL,"
        " backend_pid INTEGER,"
        " PRIMARY KEY (target, env))"
    ))


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_to_v2, _v2_to_v3]

assert len(MIGRATIONS) == SCHEMA_VERSION - 1, "one migration per version step"
