"""Every figure of issue 14 in one run (``make bench``), each measured side by side with its baseline.

1. start-up (bench/startup.py): ``validate`` vs bare ``packer validate``; ``--version``; warm no-change
   ``drift`` minus ``--version``;
2. a large project (bench/drift.py): 2,000 asset files plus a 64 MiB image: cold fingerprint vs raw
   blake3, warm fingerprint, warm ``drift`` minus ``--version``;
3. streaming (bench/stream.py): a null build printing 10,000 and 50,000 lines, wrapper vs bare
   ``packer build -machine-readable`` with the same ``PACKER_LOG`` settings; wall time and peak RSS;
4. parallel builds (bench/parallel.py): parallel wall vs the slowest single target;
5. per-line costs in-process (bench/perline.py), for reference (no target).

Then a summary of every figure against its target; exits 1 if any misses. ``BENCH_NICE=-15`` runs it
at a raised priority (see bench/harness.py); ``--compare LABEL=SRC`` adds another copy of ``src/`` to
the start-up and streaming figures; ``--quick`` uses fewer rounds and smaller sizes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import drift
import parallel
import perline
import startup
import stream
from harness import summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller sizes (a smoke run)")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=SRC")
    args = parser.parse_args()
    quick = args.quick
    startup.measure(5 if quick else 11, args.compare)
    drift.measure(["--small", "1000" if quick else "2000", "--big-mib", "16" if quick else "64",
                   "--repeat", "2" if quick else "3", *(f"--compare={c}" for c in args.compare)])
    stream.measure(1 if quick else 3, [2_000, 10_000] if quick else [10_000, 50_000], args.compare)
    parallel.measure(4, 1.0 if quick else 3.0)
    perline.measure(5_000 if quick else 20_000, 3 if quick else 5)
    return 0 if summary() else 1


if __name__ == "__main__":
    raise SystemExit(main())
