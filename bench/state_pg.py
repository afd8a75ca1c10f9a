"""State on PostgreSQL vs SQLite, measured side by side in one run.

Starts a throwaway PostgreSQL (durable settings: fsync on, as SQLite's WAL commits are synced) and a
SQLite file in a temp folder, then prints for each backend and as a PostgreSQL/SQLite ratio:

- build lock acquire and release (PostgreSQL: a new session + advisory lock + holder row; SQLite: flock
  + holder row), per operation;
- the state writes of one target's build (record_run start, set_trusted, record_artifact, record_run
  end), per build, on a warm store;
- a cold command: a new Python process that opens the state, reads trust, takes the lock and writes a
  build's rows (what one CLI invocation pays, imports included).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.postgres import start_server

from hybridcore.state import StateStore

LOCKS = 200
BUILDS = 200
COLD = 5


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


# Samples alternate between the backends, so a noisy neighbour slows both alike.


def lock_costs(stores: dict[str, StateStore]) -> dict[str, tuple[float, float]]:
    acquire: dict[str, list[float]] = {name: [] for name in stores}
    release: dict[str, list[float]] = {name: [] for name in stores}
    for i in range(LOCKS + 10):
        for name, store in stores.items():
            t0 = time.perf_counter()
            lock = store.build_lock(f"target-{i % 7}", "dev", command_id=f"C{i}")
            t1 = time.perf_counter()
            lock.release()
            t2 = time.perf_counter()
            if i >= 10:  # warm-up: engine, pool, first connection
                acquire[name].append(t1 - t0)
                release[name].append(t2 - t1)
    return {name: (_median_us(acquire[name]), _median_us(release[name])) for name in stores}


def _one_build(store: StateStore, i: int) -> None:
    run_id = f"R{i:06d}"
    store.record_run({"id": run_id, "kind": "build", "target": "web", "env": "dev", "argv": ["packer", "build"],
                      "host": "bench", "pid": 1})
    store.set_trusted("web", "dev", f"b3:{i}", {"files": {"a.pkr.hcl": f"b3:{i}"}}, trusted_by=run_id,
                      reason="build")
    store.record_artifact({"build_id": f"B{i:06d}", "target": "web", "platform": "qemu", "region": "local",
                           "provenance": {"command_id": run_id, "env": "dev"}})
    store.record_run({"id": run_id, "status": "ok", "exit_code": 0})


def write_costs(stores: dict[str, StateStore]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in stores}
    for i in range(BUILDS + 10):
        for name, store in stores.items():
            t0 = time.perf_counter()
            _one_build(store, i)
            if i >= 10:
                samples[name].append(time.perf_counter() - t0)
    return {name: _median_us(v) for name, v in samples.items()}


def cold_costs(urls: dict[str, str]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(COLD):
        for name, url in urls.items():
            code = textwrap.dedent(f"""
                from hybridcore.state import StateStore
                s = StateStore({url!r})
                s.get_trusted("web", "dev")
                with s.build_lock("web", "dev", command_id="COLD"):
                    s.record_run({{"id": "COLD", "kind": "build", "target": "web", "env": "dev"}})
                    s.set_trusted("web", "dev", "b3:cold", {{}}, trusted_by="COLD", reason="build")
                    s.record_artifact({{"build_id": "BCOLD", "target": "web", "provenance": {{"command_id": "COLD"}}}})
                    s.record_run({{"id": "COLD", "status": "ok", "exit_code": 0}})
                s.close()
            """)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            samples[name].append(time.perf_counter() - t0)
    return {name: _median_us(v) for name, v in samples.items()}


def main() -> int:
    server = start_server(durable=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls = {"sqlite": f"sqlite:///{Path(tmp) / 'state.db'}", "postgresql": server.new_database("bench")}
            stores = {name: StateStore(url) for name, url in urls.items()}
            for store in stores.values():
                store.record_run({"id": "seed", "kind": "validate"})  # created before timing
            locks, writes = lock_costs(stores), write_costs(stores)
            for store in stores.values():
                store.close()
            cold = cold_costs(urls)
    finally:
        server.stop()
    results = {name: {"lock acquire": locks[name][0], "lock release": locks[name][1],
                      "state writes per build": writes[name], "cold command (process)": cold[name]}
               for name in urls}
    print(f"medians; locks x{LOCKS}, builds x{BUILDS} (4 writes each), cold x{COLD}; PostgreSQL durable (fsync on)")
    print(f"{'':26} {'SQLite':>11} {'PostgreSQL':>11} {'PG/SQLite':>10}")
    for label in results["sqlite"]:
        lite, pg = results["sqlite"][label], results["postgresql"][label]
        print(f"{label:26} {lite / 1000:8.2f} ms {pg / 1000:8.2f} ms {pg / lite:9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
