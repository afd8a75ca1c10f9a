"""Start-up figures: ``validate`` vs bare ``packer validate``, ``--version``, warm ``drift`` over ``--version``.

All measured side by side (interleaved rounds, medians) on one small project whose template has a
shell-local provisioner. Targets (issue 14): validate <= 1.5x bare Packer (aim 1.2x); ``--version``
<= 60 ms; warm no-change ``drift`` <= 150 ms over ``--version`` (aim 50 ms).
Usage: python bench/startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    HC,
    PACKER,
    Sample,
    bench_env,
    describe,
    header,
    interleave,
    paired_diff,
    paired_ratio,
    run,
    summary,
    variants,
    verdict,
)

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


def make_project(root: Path) -> Path:
    (root / "templates" / "bench").mkdir(parents=True)
    (root / "templates" / "bench" / "bench.pkr.hcl").write_text(TEMPLATE)
    (root / "hybridcore.toml").write_text('[targets.bench]\ntemplate = "templates/bench"\n'
                                          'vars = { region = "dc1" }\n')
    return root


def measure(rounds: int, compare: list[str] | None = None) -> None:
    header("start-up: validate vs bare packer validate, --version, warm drift")
    packer = PACKER
    assert packer, "packer not on PATH"
    env = bench_env()
    with tempfile.TemporaryDirectory(prefix="hc-bench-startup-") as tmp:
        root = make_project(Path(tmp))
        tdir = root / "templates" / "bench"
        runs: dict[str, Callable[[], Sample]] = {
            "python -c pass (the floor)": lambda: run([sys.executable, "-c", "pass"], cwd=root, env=env),
            "bare packer validate": lambda: run([packer, "validate", "-var", "region=dc1", "."], cwd=tdir, env=env),
        }
        for label, extra in variants(compare or []).items():
            e = {**env, **extra}
            runs[f"hybridcore-packer validate{label}"] = lambda e=e: run([HC, "validate", "bench"], cwd=root, env=e)
            runs[f"hybridcore-packer --version{label}"] = lambda e=e: run([HC, "--version"], cwd=root, env=e)
            runs[f"hybridcore-packer drift (warm, no change){label}"] = (
                lambda e=e: run([HC, "drift", "bench"], cwd=root, env=e))
        series = interleave(runs, rounds, warmup=2)
    for s in series.values():
        print("   " + describe(s))
    bare = series["bare packer validate"]
    for label in variants(compare or []):
        val, version = series[f"hybridcore-packer validate{label}"], series[f"hybridcore-packer --version{label}"]
        drift = series[f"hybridcore-packer drift (warm, no change){label}"]
        ratio = paired_ratio(val, bare)
        v = version.median("wall") * 1e3
        d = paired_diff(drift, version) * 1e3
        print(f"   validate cpu ratio{label}: {paired_ratio(val, bare, 'cpu'):.2f}x; "
              f"wrapper cpu over bare packer: {(val.median('cpu') - bare.median('cpu')) * 1e3:.0f} ms")
        if label:
            print(f"   >>{label} validate {ratio:.2f}x · --version {v:.0f} ms · warm drift - --version {d:.0f} ms")
            continue
        verdict("validate / bare packer validate (wall)", f"{ratio:.2f}x", ratio <= 1.5, "<= 1.5x, aim 1.2x")
        verdict("--version (wall)", f"{v:.0f} ms", v <= 60, "<= 60 ms")
        verdict("warm drift - --version (wall)", f"{d:.0f} ms", d <= 150, "<= 150 ms, aim 50 ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=SRC",
                        help="also measure hybridcore imported from SRC (a copy of src/), side by side")
    args = parser.parse_args()
    measure(args.rounds, args.compare)
    return 0 if summary() else 1


if __name__ == "__main__":
    raise SystemExit(main())
