"""Wrapper overhead: `hybridcore-packer validate T` vs bare `packer validate` on the same template.

Runs the two alternately (so background load hits both alike) and prints the median ratio.
Target: <= 1.2x. Usage: python bench/overhead.py [--pairs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = """\
variable "region" {
  type    = string
  default = "dc1"
}

source "null" "bench" {
  communicator = "none"
}

build {
  sources = ["source.null.bench"]

  provisioner "shell-local" {
    inline = ["echo ${var.region}"]
  }
}
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed with {proc.returncode}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    hc = shutil.which("hybridcore-packer") or str(Path(sys.executable).parent / "hybridcore-packer")
    packer = shutil.which("packer")
    assert packer, "packer not on PATH"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "templates" / "bench").mkdir(parents=True)
        (root / "templates" / "bench" / "bench.pkr.hcl").write_text(TEMPLATE)
        (root / "hybridcore.toml").write_text('[targets.bench]\ntemplate = "templates/bench"\n'
                                              'vars = { region = "dc1" }\n')
        env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
        bare = [packer, "validate", "-var", "region=dc1", str(root / "templates" / "bench")]
        wrapped = [hc, "validate", "bench"]
        timed(wrapped, root, env)  # warm-up: parse cache, state file, packer version cache
        timed(bare, root / "templates" / "bench", env)
        ratios, hcs, packers = [], [], []
        for _ in range(args.pairs):
            p = timed(bare, root / "templates" / "bench", env)
            h = timed(wrapped, root, env)
            packers.append(p)
            hcs.append(h)
            ratios.append(h / p)
    print(f"packer validate median: {statistics.median(packers) * 1000:.0f} ms")
    print(f"hybridcore-packer validate median: {statistics.median(hcs) * 1000:.0f} ms")
    print(f"overhead ratio (median of {args.pairs} pairs): {statistics.median(ratios):.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
