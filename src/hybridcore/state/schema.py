"""The current tables of the state store (SQLAlchemy Core), created at once in an empty database.

An existing database reaches them through ``migrations`` instead, whose DDL is frozen per version;
``tests/unit/state`` checks that both paths end with the same columns. Only portable types: JSON is
stored as text (SQLite and PostgreSQL read back the same bytes), timestamps as ISO 8601 strings.
"""

from __future__ import annotations

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
    inspect,
    select,
    text,
    update,
)

from hybridcore.state.common import SCHEMA_VERSION

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
    Column("id", String(64), primary_key=True),  # the command_id (or command_id/target slug)
    Column("kind", String(32), nullable=False),  # fmt | validate | build | upgrade-check ...
    Column("target", Text),
    Column("env", String(128)),
    Column("argv", Text),  # JSON list, redacted by the caller
    Column("exit_code", Integer),
    # The run Status (running, ok, failed, ...; v3: abandoned); free text here, its type lives upstream.
    Column("status", String(32), nullable=False),
    Column("category", String(64)),
    Column("retryable", Boolean),
    Column("hint", Text),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("run_dir", Text),
    Column("attempt", Integer, nullable=False, server_default=text("1")),  # v2
    Column("host", String(255)),  # v3: who runs it, for the abandoned-run sweep
    Column("pid", Integer),
    Column("boot_id", String(64)),
    Column("tmp_dir", Text),  # v3: the private temp folder the sweep removes
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_target", "target"),
    Index("ix_runs_status", "status"),  # v3
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

artifacts = Table(  # v2
    "artifacts",
    metadata,
    Column("build_id", String(64), primary_key=True),  # sortable by time
    Column("target", String(255), nullable=False),
    Column("env", String(128)),
    # No foreign key: records are also imported from artifacts/<build_id>.json without their run.
    Column("run_id", String(64)),
    Column("record", Text, nullable=False),  # JSON, the whole artifact record
    Column("created_at", String(40), nullable=False),
    Column("platform", String(64)),  # v3: copies of the record's fields, for `artifacts latest`
    Column("region", String(128)),
    Index("ix_artifacts_target", "target"),
)

artifact_events = Table(  # v3: the registry's history, append-only
    "artifact_events",
    metadata,
    Column("id", String(64), primary_key=True),  # a ULID: sorts by time
    Column("build_id", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # promote | revoke
    Column("channel", String(128)),  # promote
    Column("reason", Text),  # revoke
    Column("who", String(255), nullable=False),
    Column("at", String(40), nullable=False),
    Index("ix_artifact_events_build_id", "build_id"),
    Index("ix_artifact_events_channel", "channel"),
)

build_locks = Table(  # v3: who holds the build lock of (target, env); the lock itself is not a row
    "build_locks",
    metadata,
    Column("target", String(255), primary_key=True),
    Column("env", String(128), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("boot_id", String(64)),
    Column("command_id", String(64)),
    Column("acquired_at", String(40), nullable=False),
    Column("backend_pid", Integer),  # PostgreSQL: the server session holding the advisory lock
)


def create_latest(conn: Connection) -> None:
    """Create the current schema in an empty database (inside the caller's transaction)."""
    metadata.create_all(conn)
    conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))


def set_version(conn: Connection, version: int) -> None:
    conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(version)))


def read_version(conn: Connection) -> int | None:
    """The stored version, or None when the database has no ``meta`` table / row."""
    if not inspect(conn).has_table("meta"):
        return None
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one_or_none()
    return None if value is None else int(value)
