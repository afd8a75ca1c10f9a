"""The one small interface the store's operations are written against.

Operations (``queries``, ``registry``) are plain SQL text with ``:name`` parameters that SQLite and
PostgreSQL both accept (``INSERT ... ON CONFLICT (k) DO UPDATE SET c = excluded.c``, ``LIMIT``,
``substr``); a backend runs that text inside one transaction and hands rows back as dicts:

- ``fast.FastBackend``: stdlib ``sqlite3`` on an existing, healthy SQLite file already at
  ``SCHEMA_VERSION`` in WAL mode, for the hot single-row statements. It may decline (``begin``
  returns None) whenever anything is unusual: the store then uses the other backend.
- ``engine.SqlAlchemyBackend``: SQLAlchemy Core. Creates and migrates the schema, serves listings, and is
  the only backend for PostgreSQL.

Both translate driver errors into ``StateError`` / ``StateUnavailable`` and commit on success.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Tx(Protocol):
    """One open transaction."""

    dialect: str  # "sqlite" | "postgresql": for the rare statement that must differ (FOR UPDATE)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query; every row as a column -> value dict."""
        ...

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        ...


class Backend(Protocol):
    def begin(self, what: str, *, write: bool) -> AbstractContextManager[Tx] | None:
        """A transaction (committed when the block ends cleanly, else rolled back), or None to decline.

        ``write`` transactions take the write lock up front on SQLite (``BEGIN IMMEDIATE``), so two
        writers never both hold a read snapshot and deadlock upgrading it.
        """
        ...

    def close(self) -> None: ...


def one(tx: Tx, sql: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    found = tx.rows(sql, params)
    return found[0] if found else None


def for_update(tx: Tx) -> str:
    """Row lock suffix: PostgreSQL's READ COMMITTED needs it for check-then-write; SQLite's writer holds
    the whole database already (and has no such clause)."""
    return " FOR UPDATE" if tx.dialect == "postgresql" else ""
