"""Full-size state stress: many processes x threads writing one state, repeated.

``python bench/state_stress.py`` runs it on a SQLite file, ``--postgres`` on a throwaway PostgreSQL
server (as many CI runners sharing one database). Prints rows expected vs found (and SQLite's integrity
check) per round; exits 1 on any loss or corruption. ``make test`` runs a reduced form
(tests/unit/state/test_stress.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.postgres import PgServer, start_server
from tests.support.state_stress import Load, count_rows, expected_counts, run_load

from hybridcore.state import StateStore

LOAD = Load(processes=8, threads=4, ops=40)
ROUNDS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="run against a throwaway PostgreSQL server")
    args = parser.parse_args()
    server: PgServer | None = start_server() if args.postgres else None
    bad = 0
    try:
        for r in range(ROUNDS):
            with tempfile.TemporaryDirectory() as tmp:
                url = server.new_database("stress") if server else f"sqlite:///{Path(tmp) / 'state.db'}"
                with StateStore(url) as s:
                    s.record_run({"id": "seed", "kind": "validate"})
                t0 = time.perf_counter()
                codes = run_load(url, LOAD)
                took = time.perf_counter() - t0
                found, _, integrity = count_rows(url)
                want = expected_counts(LOAD)
                want["runs"] += 1
                ok = codes == [0] * LOAD.processes and integrity == "ok" and found == want
                bad += not ok
                writes = LOAD.writers * LOAD.ops * 5
                print(f"round {r + 1} ({'postgresql' if server else 'sqlite'}): {LOAD.processes} procs x "
                      f"{LOAD.threads} threads x {LOAD.ops} ops, {took:.1f} s ({writes / took:.0f} writes/s), "
                      f"exit codes {sorted(set(map(str, codes)))}, integrity {integrity}, rows {found} "
                      f"(want {want}) -> {'ok' if ok else 'LOST/CORRUPT'}")
    finally:
        if server is not None:
            server.stop()
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
