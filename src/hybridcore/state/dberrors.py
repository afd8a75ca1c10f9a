"""SQLAlchemy/driver errors as the StateError an operator can act on.

The split that matters to the CLI: ``StateUnavailable`` (exit 75) when the database cannot be reached
now, a plain ``StateError`` (exit 2) when the URL, credentials or database name are wrong. psycopg gives
no SQLSTATE for a failed connection, so the server's words decide there; once connected, the SQLSTATE
class does.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from hybridcore.errors import StateError
from hybridcore.state.common import STATE_URL_ENV
from hybridcore.state.errors import StateUnavailable
from hybridcore.state.fast import translate_sqlite_error

# Connection exception, insufficient resources, operator intervention (shutdown, starting up), system.
_UNAVAILABLE_CLASSES = {"08", "53", "57", "58"}
_MISCONFIGURED = ("password authentication failed", "no pg_hba.conf entry", "does not exist",
                  "authentication failed", "permission denied")


def translate(exc: SQLAlchemyError, what: str, where: str) -> StateError:
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        if isinstance(orig, sqlite3.Error):
            return translate_sqlite_error(orig, what, where)
        if isinstance(exc, IntegrityError):
            return StateError(f"state {what} rejected by {where}: {orig}",
                              hint="record the run (record_run) before what refers to it")
        detail = str(orig).strip().replace("\n", " ")
        if unavailable(exc):
            return StateUnavailable(f"state database {where} is unavailable ({what}): {detail}")
        if _misconfigured(detail):
            return StateError(f"cannot connect to state database {where}: {detail}",
                              hint=f"check the user, password and database name in {STATE_URL_ENV}")
        return StateError(f"state {what} failed on {where}: {detail}",
                          hint="check that the database is reachable and writable")
    return StateError(f"state {what} failed on {where}: {exc}")


def unavailable(exc: DBAPIError) -> bool:
    """True when the error says the server cannot be reached or cannot serve now (retry later)."""
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        return str(sqlstate)[:2] in _UNAVAILABLE_CLASSES
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError) and not _misconfigured(str(exc.orig))


def _misconfigured(message: str) -> bool:
    lowered = message.lower()
    return any(m in lowered for m in _MISCONFIGURED)
