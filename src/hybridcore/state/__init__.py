"""hybridcore.state: where runs, trusted input digests, manifests and artifact records are kept.

Importing this package is cheap (no SQLAlchemy until a database is first used): the CLI imports it.
"""

from hybridcore.state.store import SCHEMA_VERSION, STATE_URL_ENV, StateStore

__all__ = ["SCHEMA_VERSION", "STATE_URL_ENV", "StateStore"]
