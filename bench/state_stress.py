"""Full-size state stress: many processes x threads writing one SQLite state, repeated.

Prints rows expected vs found and the integrity check per round; exits 1 on any loss or corruption.
``make test`` runs a reduced form (tests/unit/state/test_stress.py).
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.state_stress import Load, expected_counts, run_load

from hybridcore.state import StateStore

LOAD = Load(processes=8, threads=4, ops=40)
ROUNDS = 3


def main() -> int:
    bad = 0
    for r in range(ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "state.db"
            with StateStore(f"sqlite:///{db}") as s:
                s.record_run({"id": "seed", "kind": "validate"})
            t0 = time.perf_counter()
            codes = run_load(f"sqlite:///{db}", LOAD)
            took = time.perf_counter() - t0
            con = sqlite3.connect(db)
            integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
            found = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("runs", "trusted", "manifests", "artifacts")}
            con.close()
            want = expected_counts(LOAD)
            want["runs"] += 1
            ok = codes == [0] * LOAD.processes and integrity == "ok" and found == want
            bad += not ok
            writes = LOAD.writers * LOAD.ops * 5
            print(f"round {r + 1}: {LOAD.processes} procs x {LOAD.threads} threads x {LOAD.ops} ops, "
                  f"{took:.1f} s ({writes / took:.0f} writes/s), exit codes {sorted(set(map(str, codes)))}, "
                  f"integrity {integrity}, rows {found} (want {want}) -> {'ok' if ok else 'LOST/CORRUPT'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
