"""The store's operations on runs, trust, manifests and artifact records, written once over a ``Tx``.

Plain SQL text that SQLite (stdlib or through SQLAlchemy) and PostgreSQL all run; column and table
names come from the constants here, values always travel as parameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hybridcore.errors import StateError
from hybridcore.state.backend import Tx, for_update, one
from hybridcore.state.common import RUN_COLUMNS, dumps, now


def upsert(tx: Tx, table: str, values: Mapping[str, Any], keys: Sequence[str],
           update_cols: Sequence[str] | None = None) -> None:
    """INSERT, or on a key conflict UPDATE ``update_cols`` (default: every non-key column given)."""
    cols = list(values)
    changes = [c for c in (cols if update_cols is None else update_cols) if c not in keys]
    action = (f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in changes)}" if changes
              else "DO NOTHING")
    tx.run(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(f':{c}' for c in cols)})"  # noqa: S608
           f" ON CONFLICT ({', '.join(keys)}) {action}", values)


def by_prefix(tx: Tx, table: str, column: str, key: str, what: str) -> dict[str, Any] | None:
    """The row whose ``column`` is ``key``, else the one row whose ``column`` starts with it (ASCII case
    ignored, as ids are typed by people); StateError when several do."""
    row = one(tx, f"SELECT * FROM {table} WHERE {column} = :key", {"key": key})  # noqa: S608
    if row is not None or not key:
        return row
    rows = tx.rows(f"SELECT * FROM {table} WHERE lower(substr({column}, 1, CAST(:n AS INTEGER))) = :prefix"  # noqa: S608
                   f" ORDER BY {column} LIMIT 2", {"n": len(key), "prefix": key.lower()})
    if len(rows) > 1:
        raise StateError(f"{what} prefix {key!r} is ambiguous (matches {rows[0][column]}, {rows[1][column]}, ...)",
                         hint=f"give more characters of the {what} id")
    return rows[0] if rows else None


# --- runs -------------------------------------------------------------------------------------------


def run_values(run: Mapping[str, Any]) -> dict[str, Any]:
    """The ``runs`` columns given in ``run``, as stored (argv as JSON, retryable as a bool)."""
    if not run.get("id"):
        raise ValueError("record_run: the run needs an 'id' (its command_id)")
    values = {k: run[k] for k in RUN_COLUMNS if k in run}
    if values.get("argv") is not None:
        values["argv"] = dumps(list(values["argv"]))
    if values.get("retryable") is not None:
        values["retryable"] = bool(values["retryable"])
    return values


def record_run(tx: Tx, values: dict[str, Any]) -> None:
    """Update the columns given of an existing run, or insert a new one (which needs ``kind``)."""
    given = [k for k in values if k != "id"]
    exists = one(tx, "SELECT id FROM runs WHERE id = :id" + for_update(tx), {"id": values["id"]})  # noqa: S608
    if exists:
        if given:
            tx.run(f"UPDATE runs SET {', '.join(f'{k} = :{k}' for k in given)} WHERE id = :id", values)  # noqa: S608
        return
    if not values.get("kind"):
        raise ValueError(f"record_run: run {values['id']} is new and needs a 'kind'")
    new = {"status": "running", "started_at": now(), **values}
    # SQLite's writer is alone (BEGIN IMMEDIATE); on PostgreSQL a racing insert turns into the update.
    upsert(tx, "runs", new, ("id",), update_cols=given)


def run_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    run = dict(row)
    run["argv"] = json.loads(run["argv"]) if run["argv"] is not None else None
    if run["retryable"] is not None:
        run["retryable"] = bool(run["retryable"])
    return run


def get_run(tx: Tx, run_id: str) -> dict[str, Any] | None:
    row = by_prefix(tx, "runs", "id", run_id, "run")
    return None if row is None else run_dict(row)


def list_runs(tx: Tx, *, limit: int, target: str | None = None, kind: str | None = None,
              status: str | None = None, host: str | None = None) -> list[dict[str, Any]]:
    where, params = _filters({"target": target, "kind": kind, "status": status, "host": host})
    params["limit"] = max(0, limit)
    rows = tx.rows(f"SELECT * FROM runs{where} ORDER BY started_at DESC, id DESC LIMIT :limit", params)  # noqa: S608
    return [run_dict(r) for r in rows]


def mark_abandoned(tx: Tx, run_id: str, hint: str | None) -> bool:
    """``running`` -> ``abandoned``; False when the run is not (or no longer) running."""
    return tx.run("UPDATE runs SET status = 'abandoned', category = 'abandoned', finished_at = :at,"
                  " hint = coalesce(:hint, hint) WHERE id = :id AND status = 'running'",
                  {"id": run_id, "at": now(), "hint": hint}) == 1


def _filters(given: Mapping[str, Any], alias: str = "") -> tuple[str, dict[str, Any]]:
    used = {k: v for k, v in given.items() if v is not None}
    if not used:
        return "", {}
    return " WHERE " + " AND ".join(f"{alias}{k} = :{k}" for k in used), used


# --- trust and manifests ----------------------------------------------------------------------------


def get_trusted(tx: Tx, target: str, env: str) -> dict[str, Any] | None:
    row = one(tx, "SELECT target, env, digest, entries, trusted_by, trusted_at, reason FROM trusted"
                  " WHERE target = :target AND env = :env", {"target": target, "env": env})
    if row is None:
        return None
    row["entries"] = json.loads(row["entries"])
    return row


def get_manifests(tx: Tx, run_id: str) -> list[dict[str, Any]]:
    out = tx.rows("SELECT run_id, target, manifest, path, recorded_at FROM manifests WHERE run_id = :run_id"
                  " ORDER BY target", {"run_id": run_id})
    for item in out:
        item["manifest"] = json.loads(item["manifest"])
    return out


# --- artifact records -------------------------------------------------------------------------------


def artifact_values(record: Mapping[str, Any]) -> dict[str, Any]:
    build_id, target = record.get("build_id"), record.get("target")
    if not build_id or not target:
        raise ValueError("record_artifact: the record needs 'build_id' and 'target'")
    prov = record.get("provenance") or {}
    platform, region = record.get("platform"), record.get("region")
    return {
        "build_id": str(build_id), "target": str(target), "env": prov.get("env"),
        "run_id": prov.get("command_id"), "record": dumps(dict(record)),
        "created_at": prov.get("finished_at") or prov.get("started_at") or now(),
        "platform": None if platform is None else str(platform),
        "region": None if region is None else str(region),
    }


def get_artifact(tx: Tx, build_id: str) -> dict[str, Any] | None:
    row = by_prefix(tx, "artifacts", "build_id", build_id, "build")
    return None if row is None else dict(json.loads(row["record"]))


def list_artifacts(tx: Tx, *, target: str | None, limit: int) -> list[dict[str, Any]]:
    where, params = _filters({"target": target})
    params["limit"] = max(0, limit)
    rows = tx.rows(f"SELECT record FROM artifacts{where} ORDER BY build_id DESC LIMIT :limit", params)  # noqa: S608
    return [dict(json.loads(r["record"])) for r in rows]
