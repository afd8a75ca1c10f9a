"""Parallel builds: N targets whose provisioner sleeps S seconds, built serially and with parallel=N.

Prints the ratio of the parallel wall time to the slowest single target of the serial run.
Target: <= 1.1. Usage: python bench/parallel.py [--targets N] [--sleep S]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import header, summary, verdict

TEMPLATE = """\
variable "nap" {
  type    = string
  default = "1"
}

source "null" "nap" {
  communicator = "none"
}

build {
  sources = ["source.null.nap"]

  provisioner "shell-local" {
    inline = ["sleep ${var.nap}"]
  }
}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=3.0)
    args = parser.parse_args()
    measure(args.targets, args.sleep)
    return 0 if summary() else 1


def measure(targets: int = 4, sleep: float = 3.0) -> None:
    from hybridcore.packer import build, validate

    header(f"parallel builds: {targets} targets sleeping {sleep} s, serially and all at once (in-process API)")
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "templates" / "nap").mkdir(parents=True)
        (root / "templates" / "nap" / "nap.pkr.hcl").write_text(TEMPLATE)
        names = [f"t{i}" for i in range(targets)]
        (root / "hybridcore.toml").write_text("".join(
            f'[targets.{n}]\ntemplate = "templates/nap"\nvars = {{ nap = "{sleep}" }}\n' for n in names))
        os.chdir(root)
        try:
            assert validate(names).exit_code == 0
            start = time.perf_counter()
            serial = build(names, parallel=1)
            serial_wall = time.perf_counter() - start
            start = time.perf_counter()
            par = build(names, parallel=targets)
            par_wall = time.perf_counter() - start
        finally:
            os.chdir(cwd)
    assert serial.exit_code == 0
    assert par.exit_code == 0

    def duration(t: object) -> float:
        a = t.attempts[-1]  # type: ignore[attr-defined]
        return (datetime.fromisoformat(a.finished_at) - datetime.fromisoformat(a.started_at)).total_seconds()

    slowest = max(duration(t) for t in serial.targets)
    print(f"   serial wall: {serial_wall:.2f} s; parallel wall: {par_wall:.2f} s; "
          f"slowest single target: {slowest:.2f} s")
    print(f"   serial / parallel speed-up: {serial_wall / par_wall:.2f}x")
    verdict(f"parallel wall / slowest single target ({targets} targets)", f"{par_wall / slowest:.2f}x",
            par_wall / slowest <= 1.1, "<= 1.1x")


if __name__ == "__main__":
    raise SystemExit(main())
