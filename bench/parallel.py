"""Parallel builds: N targets whose provisioner sleeps S seconds, built serially and with parallel=N.

Prints the ratio of the parallel wall time to the slowest single target of the serial run.
Target: <= 1.1. Usage: python bench/parallel.py [--targets N] [--sleep S]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=3.0)
    args = parser.parse_args()
    from hybridcore.packer import build, validate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "templates" / "nap").mkdir(parents=True)
        (root / "templates" / "nap" / "nap.pkr.hcl").write_text(TEMPLATE)
        names = [f"t{i}" for i in range(args.targets)]
        (root / "hybridcore.toml").write_text("".join(
            f'[targets.{n}]\ntemplate = "templates/nap"\nvars = {{ nap = "{args.sleep}" }}\n' for n in names))
        os.chdir(root)
        assert validate(names).exit_code == 0
        start = time.perf_counter()
        serial = build(names, parallel=1)
        serial_wall = time.perf_counter() - start
        start = time.perf_counter()
        par = build(names, parallel=args.targets)
        par_wall = time.perf_counter() - start
    assert serial.exit_code == 0
    assert par.exit_code == 0

    def duration(t: object) -> float:
        a = t.attempts[-1]  # type: ignore[attr-defined]
        return (datetime.fromisoformat(a.finished_at) - datetime.fromisoformat(a.started_at)).total_seconds()

    slowest = max(duration(t) for t in serial.targets)
    print(f"targets: {args.targets}, provisioner sleep: {args.sleep} s")
    print(f"serial wall: {serial_wall:.2f} s")
    print(f"parallel wall: {par_wall:.2f} s")
    print(f"slowest single target: {slowest:.2f} s")
    print(f"parallel / slowest single: {par_wall / slowest:.2f} (target <= 1.1)")
    print(f"serial / parallel speed-up: {serial_wall / par_wall:.2f}x")


if __name__ == "__main__":
    main()
