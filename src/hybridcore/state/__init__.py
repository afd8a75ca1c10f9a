"""hybridcore.state: where runs, trusted input digests, manifests, artifact records, the registry's
channels and revocations, and build locks are kept (a SQLite file, or a shared PostgreSQL).

Importing this package is cheap (no SQLAlchemy until a database needs it): the CLI imports it.
"""

from hybridcore.state.common import SCHEMA_VERSION, STATE_URL_ENV
from hybridcore.state.errors import LockTimeout, StateUnavailable, UnknownArtifact, is_unavailable
from hybridcore.state.locks import BuildLock
from hybridcore.state.store import StateStore

__all__ = [
    "SCHEMA_VERSION",
    "STATE_URL_ENV",
    "BuildLock",
    "LockTimeout",
    "StateStore",
    "StateUnavailable",
    "UnknownArtifact",
    "is_unavailable",
]
