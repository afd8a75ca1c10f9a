"""Many processes x threads writing one state at once: the workload behind the state stress tests.

Each worker thread of each process writes, per op: a new run, its trust, a manifest, an artifact
record, and the run's final status, all through one ``StateStore`` shared by the process's threads
(as a ``build --parallel`` does). ``expected_counts`` says exactly what must be there afterwards.
Used by ``tests/unit/state/test_stress.py`` (reduced) and ``bench/state_stress.py`` (full).
"""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass

from hybridcore.state import StateStore


@dataclass(frozen=True)
class Load:
    processes: int
    threads: int
    ops: int

    @property
    def writers(self) -> int:
        return self.processes * self.threads


def _worker_thread(store: StateStore, proc: int, thread: int, ops: int, errors: list[BaseException],
                   barrier: threading.Barrier) -> None:
    try:
        barrier.wait()
        target = f"t{proc}-{thread}"
        for i in range(ops):
            run_id = f"r{proc:02d}{thread:02d}{i:04d}"
            store.record_run({"id": run_id, "kind": "build", "target": target, "env": "dev",
                              "started_at": f"2026-01-01T00:00:{i % 60:02d}+00:00"})
            store.set_trusted(target, "dev", f"digest-{i}", {"i": i}, trusted_by=run_id, reason="build")
            store.record_manifest(run_id, target, {"builds": [{"name": target, "i": i}]}, f"/m/{run_id}")
            store.record_artifact({"build_id": f"b{run_id}", "target": target,
                                   "provenance": {"command_id": run_id, "env": "dev"}})
            store.record_run({"id": run_id, "status": "ok", "exit_code": 0})
    except BaseException as exc:  # collected: an exception in a thread is otherwise lost
        errors.append(exc)


def run_process(url: str, proc: int, threads: int, ops: int) -> None:
    """One wrapper-like process: ``threads`` threads sharing one store. Exits 1 on any error."""
    store = StateStore(url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)
    workers = [threading.Thread(target=_worker_thread, args=(store, proc, t, ops, errors, barrier))
               for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()
    if errors:
        raise SystemExit(f"process {proc}: {errors[0]!r}")


def run_load(url: str, load: Load, timeout: float = 600) -> list[int | None]:
    """Start every process at once (spawned: no inherited connections); their exit codes."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=run_process, args=(url, p, load.threads, load.ops))
             for p in range(load.processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=timeout)
    return [p.exitcode for p in procs]


def expected_counts(load: Load) -> dict[str, int]:
    runs = load.writers * load.ops
    return {"runs": runs, "trusted": load.writers, "manifests": runs, "artifacts": runs}


TABLES = ("runs", "trusted", "manifests", "artifacts")


def count_rows(url: str) -> tuple[dict[str, int], set[str], str]:
    """Rows per table, the run statuses found, and the integrity verdict ("ok", or SQLite's complaint),
    read with the bare driver (sqlite3 / psycopg) so nothing of the store is trusted to check itself."""
    if url.startswith("sqlite"):
        import sqlite3

        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            integrity = str(con.execute("PRAGMA integrity_check").fetchone()[0])
            counts = {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}
            statuses = {str(r[0]) for r in con.execute("SELECT DISTINCT status FROM runs")}
        finally:
            con.close()
        return counts, statuses, integrity
    import psycopg
    from tests.support.postgres import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}  # type: ignore[index]
        statuses = {str(r[0]) for r in conn.execute("SELECT DISTINCT status FROM runs")}
    return counts, statuses, "ok"
