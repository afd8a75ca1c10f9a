"""Tables of the state store and the ordered migrations that reach them.

``SCHEMA_VERSION`` is the version this code writes. ``MIGRATIONS[n - 1]`` turns a version-``n`` database
into version ``n + 1``; each migration carries its own frozen DDL (never the current ``Table`` objects,
which keep evolving), so an old database always walks the same path whatever the current schema is.

Only SQLAlchemy Core, and only portable types: JSON is stored as text (so SQLite and PostgreSQL read
back the same bytes) and timestamps as ISO 8601 strings.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
    update,
)

SCHEMA_VERSION = 2

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),  # the command_id
    Column("kind", String(32), nullable=False),  # fmt | validate | build | upgrade-check ...
    Column("target", Text),
    Column("env", String(128)),
    Column("argv", Text),  # JSON list, redacted by the caller
    Column("exit_code", Integer),
    Column("status", String(32), nullable=False),  # running | ok | failed | interrupted | timeout | refused
    Column("category", String(64)),
    Column("retryable", Boolean),
    Column("hint", Text),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("run_dir", Text),
    Column("attempt", Integer, nullable=False, server_default=text("1")),  # added in v2
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_target", "target"),
)

trusted = Table(
    "trusted",
    metadata,
    Column("target", String(255), primary_key=True),
    Column("env", String(128), primary_key=True),
    Column("digest", String(128), nullable=False),
    Column("entries", Text, nullable=False),  # JSON: per-file digests etc.
    # No foreign key: trust must outlive any pruning of old runs.
    Column("trusted_by", String(64), nullable=False),
    Column("trusted_at", String(40), nullable=False),
    Column("reason", String(32), nullable=False),  # validate | build
)

manifests = Table(
    "manifests",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("target", String(255), primary_key=True),
    Column("manifest", Text, nullable=False),  # JSON
    Column("path", Text, nullable=False),
    Column("recorded_at", String(40), nullable=False),
)

artifacts = Table(  # added in v2
    "artifacts",
    metadata,
    Column("build_id", String(64), primary_key=True),  # sortable by time
    Column("target", String(255), nullable=False),
    Column("env", String(128)),
    # No foreign key: records are also imported from artifacts/<build_id>.json without their run.
    Column("run_id", String(64)),
    Column("record", Text, nullable=False),  # JSON, the whole artifact record
    Column("created_at", String(40), nullable=False),
    Index("ix_artifacts_target", "target"),
)


def create_latest(conn: Connection) -> None:
    """Create the current schema in an empty database (inside the caller's transaction)."""
    metadata.create_all(conn)
    conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))


def set_version(conn: Connection, version: int) -> None:
    conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(version)))


def read_version(conn: Connection) -> int | None:
    """The stored version, or None when the database has no ``meta`` table / row."""
    from sqlalchemy import inspect

    if not inspect(conn).has_table("meta"):
        return None
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one_or_none()
    return None if value is None else int(value)


# --- historical schema (v1) -------------------------------------------------------------------------


def create_v1(conn: Connection) -> None:
    """The first released schema, frozen. Used by tests to build a v1 database to migrate."""
    md = MetaData()
    Table("meta", md, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))
    Table(
        "runs", md,
        Column("id", String(64), primary_key=True), Column("kind", String(32), nullable=False),
        Column("target", Text), Column("env", String(128)), Column("argv", Text),
        Column("exit_code", Integer), Column("status", String(32), nullable=False),
        Column("category", String(64)), Column("retryable", Boolean), Column("hint", Text),
        Column("started_at", String(40), nullable=False), Column("finished_at", String(40)),
        Column("run_dir", Text),
    )
    Table(
        "trusted", md,
        Column("target", String(255), primary_key=True), Column("env", String(128), primary_key=True),
        Column("digest", String(128), nullable=False), Column("entries", Text, nullable=False),
        Column("trusted_by", String(64), nullable=False), Column("trusted_at", String(40), nullable=False),
        Column("reason", String(32), nullable=False),
    )
    Table(
        "manifests", md,
        Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        Column("target", String(255), primary_key=True), Column("manifest", Text, nullable=False),
        Column("path", Text, nullable=False), Column("recorded_at", String(40), nullable=False),
    )
    md.create_all(conn)
    conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '1')"))


# --- migrations -------------------------------------------------------------------------------------


def _v1_to_v2(conn: Connection) -> None:
    """v2: retries are recorded (``runs.attempt``), artifact records get their own table, runs indexed."""
    # Plain DDL: portable between SQLite and PostgreSQL, and frozen whatever the current Table says.
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


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_to_v2]

assert len(MIGRATIONS) == SCHEMA_VERSION - 1, "one migration per version step"


def _check_fast_path_version() -> None:
    from hybridcore.state import store

    # store.py repeats the number so its SQLAlchemy-free fast path can compare without importing us.
    assert store.SCHEMA_VERSION == SCHEMA_VERSION, "bump store.SCHEMA_VERSION too"


_check_fast_path_version()
