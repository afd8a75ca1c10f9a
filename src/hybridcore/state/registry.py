"""The artifact registry's state: channels and revocations as an append-only event history.

``promote`` puts a build in a channel, ``revoke`` takes it out of every answer of ``latest`` for good;
each is one ``artifact_events`` row saying who and when, so ``artifact_history`` is the record's story.
Both are idempotent: promoting to a channel the build is already in, or revoking a revoked build,
returns the earlier event and writes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hybridcore.errors import StateError
from hybridcore.ids import new_ulid
from hybridcore.state.backend import Tx, for_update, one
from hybridcore.state.common import now
from hybridcore.state.errors import UnknownArtifact
from hybridcore.state.queries import by_prefix

_CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
_EVENT_COLUMNS = "id, build_id, action, channel, reason, who, at"


def check_channel(channel: str) -> str:
    if not isinstance(channel, str) or not _CHANNEL.fullmatch(channel):
        raise ValueError(f"channel {channel!r}: use 1-128 letters, digits, '.', '_', '/' or '-', starting with a "
                         "letter or digit")
    return channel


def _who(who: str) -> str:
    if not who or not str(who).strip():
        raise ValueError("who: name the person or job recording this (e.g. user@host or the CI job)")
    return str(who).strip()[:255]


def resolve(tx: Tx, build_id: str) -> str:
    """The full build id of the one record ``build_id`` names (exactly, or as a prefix)."""
    row = by_prefix(tx, "artifacts", "build_id", build_id, "build")
    if row is None:
        raise UnknownArtifact(f"no artifact record {build_id!r}")
    full = str(row["build_id"])
    # PostgreSQL: serialise promote/revoke of one build (READ COMMITTED would let both check, then write).
    one(tx, "SELECT build_id FROM artifacts WHERE build_id = :b" + for_update(tx), {"b": full})  # noqa: S608
    return full


def _event(tx: Tx, build_id: str, action: str, channel: str | None, reason: str | None,
           who: str) -> dict[str, Any]:
    event = {"id": new_ulid(), "build_id": build_id, "action": action, "channel": channel, "reason": reason,
             "who": who, "at": now()}
    tx.run(f"INSERT INTO artifact_events ({_EVENT_COLUMNS})"  # noqa: S608
           " VALUES (:id, :build_id, :action, :channel, :reason, :who, :at)", event)
    return event


def revocation_of(tx: Tx, build_id: str) -> dict[str, Any] | None:
    sql = f"SELECT {_EVENT_COLUMNS} FROM artifact_events WHERE build_id = :b AND action = 'revoke'"  # noqa: S608
    return one(tx, sql + " ORDER BY at, id LIMIT 1", {"b": build_id})


def promote(tx: Tx, build_id: str, channel: str, who: str) -> dict[str, Any]:
    check_channel(channel)
    who = _who(who)
    full = resolve(tx, build_id)
    revoked = revocation_of(tx, full)
    if revoked is not None:
        raise StateError(f"build {full} was revoked by {revoked['who']} at {revoked['at']} "
                         f"({revoked['reason']}); it cannot be promoted",
                         hint="promote another build (see 'hybridcore-packer artifacts')")
    earlier = one(tx, f"SELECT {_EVENT_COLUMNS} FROM artifact_events"  # noqa: S608
                      " WHERE build_id = :b AND action = 'promote' AND channel = :c ORDER BY at, id LIMIT 1",
                  {"b": full, "c": channel})
    return earlier if earlier is not None else _event(tx, full, "promote", channel, None, who)


def revoke(tx: Tx, build_id: str, reason: str, who: str) -> dict[str, Any]:
    if not reason or not str(reason).strip():
        raise ValueError("revoke: give a reason")
    who = _who(who)
    full = resolve(tx, build_id)
    earlier = revocation_of(tx, full)
    return earlier if earlier is not None else _event(tx, full, "revoke", None, str(reason).strip(), who)


def full_id(tx: Tx, build_id: str) -> str:
    """The full id of the record ``build_id`` names as a prefix, else ``build_id`` itself."""
    row = by_prefix(tx, "artifacts", "build_id", build_id, "build")
    return build_id if row is None else str(row["build_id"])


def history(tx: Tx, build_id: str) -> list[dict[str, Any]]:
    """Every promote/revoke of the build, oldest first (empty for an unknown id)."""
    return tx.rows(f"SELECT {_EVENT_COLUMNS} FROM artifact_events WHERE build_id = :b"  # noqa: S608
                   " ORDER BY at, id", {"b": full_id(tx, build_id)})


def channels_of(tx: Tx, build_id: str) -> list[str]:
    """The channels the build was promoted to (sorted); a revoked build is in none."""
    full = full_id(tx, build_id)
    if revocation_of(tx, full) is not None:
        return []
    rows = tx.rows("SELECT DISTINCT channel FROM artifact_events WHERE build_id = :b AND action = 'promote'",
                   {"b": full})
    return sorted(str(r["channel"]) for r in rows)


def latest(tx: Tx, target: str, *, platform: str | None, region: str | None, channel: str | None,
           env: str | None) -> dict[str, Any] | None:
    """The newest (by build id) unrevoked record of ``target`` matching every filter given."""
    params: dict[str, Any] = {"target": target}
    sql = ["SELECT a.record FROM artifacts a WHERE a.target = :target"]
    for name, value in (("platform", platform), ("region", region), ("env", env)):
        if value is not None:
            sql.append(f"AND a.{name} = :{name}")
            params[name] = value
    sql.append("AND NOT EXISTS (SELECT 1 FROM artifact_events r"
               " WHERE r.build_id = a.build_id AND r.action = 'revoke')")
    if channel is not None:
        sql.append("AND EXISTS (SELECT 1 FROM artifact_events p"
                   " WHERE p.build_id = a.build_id AND p.action = 'promote' AND p.channel = :channel)")
        params["channel"] = channel
    sql.append("ORDER BY a.build_id DESC LIMIT 1")
    row = one(tx, " ".join(sql), params)
    return None if row is None else dict(json.loads(row["record"]))
