"""Streaming: a null build whose shell-local provisioner prints N lines, through the wrapper and bare.

Bare is ``packer build -machine-readable`` with the environment the wrapper gives Packer
(``PACKER_LOG=1`` into a file, no colour, no checkpoint); both write their stdout to a file. The
template has one sensitive variable, so the wrapper's redaction runs on every line as it would in
a real build. Runs are interleaved; medians are reported.
Targets (issue 14): wall time <= 1.2x bare Packer at each size; the wrapper's own peak RSS flat in
output size (50k-line peak within 15% of the 10k-line peak).
Usage: python bench/stream.py [--rounds N] [--sizes 10000,50000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
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
    paired_ratio,
    run,
    summary,
    variants,
    verdict,
)

TEMPLATE = """\
variable "lines" {
  type = string
}

variable "token" {
  type      = string
  sensitive = true
  default   = ""
}

source "null" "stream" {
  communicator = "none"
}

build {
  sources = ["source.null.stream"]

  provisioner "shell-local" {
    inline = ["seq -f 'line %g: the provisioner reports progress on its work here' 1 ${var.lines}"]
  }
}
"""
TOKEN = "bench-secret-token-0123456789"


def _target(n: int) -> str:
    return f"s{n}"


def make_project(root: Path, sizes: list[int]) -> Path:
    (root / "templates" / "stream").mkdir(parents=True)
    (root / "templates" / "stream" / "stream.pkr.hcl").write_text(TEMPLATE)
    (root / "hybridcore.toml").write_text("".join(
        f'[targets.{_target(n)}]\ntemplate = "templates/stream"\nvars = {{ lines = "{n}" }}\n'
        f'secrets = {{ token = "BENCH_TOKEN" }}\n' for n in sizes))
    return root


def _to_file(argv: list[str], cwd: Path, env: dict[str, str], out: Path) -> Sample:
    with out.open("wb") as fh:
        return run(argv, cwd=cwd, env=env, stdout=fh.fileno())


def measure(rounds: int, sizes: list[int], compare: list[str] | None = None) -> None:
    header(f"streaming: a null build printing {', '.join(f'{n:,}' for n in sizes)} lines, wrapper vs bare Packer")
    packer = PACKER
    assert packer, "packer not on PATH"
    env = bench_env(BENCH_TOKEN=TOKEN)
    with tempfile.TemporaryDirectory(prefix="hc-bench-stream-") as tmp:
        root = make_project(Path(tmp), sizes)
        tdir = root / "templates" / "stream"
        logs = Path(tmp) / "bare"
        logs.mkdir()
        bare_env = {**env, "PACKER_LOG": "1", "PACKER_LOG_PATH": str(logs / "packer.log"),
                    "PACKER_NO_COLOR": "1", "PKR_VAR_token": TOKEN}
        for n in sizes:
            subprocess.run([HC, "validate", _target(n)], cwd=root, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peaks: dict[int, float] = {}
        for n in sizes:
            def bare(n: int = n) -> Sample:
                return _to_file([packer, "build", "-machine-readable", "-var", f"lines={n}", "."], tdir, bare_env,
                                logs / "stdout.txt")

            runs = {f"bare packer build ({n:,} lines)": bare}
            for label, extra in variants(compare or []).items():
                def wrapped(n: int = n, extra: dict[str, str] = extra) -> Sample:
                    return _to_file([HC, "build", _target(n)], root, {**env, **extra}, Path(tmp) / "hc-stdout.txt")

                runs[f"hybridcore-packer build ({n:,} lines){label}"] = wrapped
            series = interleave(runs, rounds, warmup=0)
            b, *wrappers = series.values()
            print("   " + describe(b))
            for w in wrappers:
                print("   " + describe(w))
                ratio = paired_ratio(w, b)
                per_line = (w.median("cpu") - b.median("cpu")) / n * 1e6
                print(f"   cpu ratio {paired_ratio(w, b, 'cpu'):.2f}x; wrapper cpu per line {per_line:.0f} µs")
                if w is wrappers[0]:
                    verdict(f"stream {n:,} lines / bare packer (wall)", f"{ratio:.2f}x", ratio <= 1.2, "<= 1.2x")
                    peaks[n] = w.median("own_rss_kib")
                else:
                    print(f"   >> {w.name} / bare packer (wall): {ratio:.2f}x")
        if len(sizes) >= 2:
            small, big = min(sizes), max(sizes)
            growth = peaks[big] / peaks[small]
            verdict(f"wrapper peak RSS {big:,} / {small:,} lines", f"{growth:.2f}x "
                    f"({peaks[small] / 1024:.0f} -> {peaks[big] / 1024:.0f} MiB)", growth <= 1.15,
                    f"<= 1.15x for {big / small:.0f}x the output (flat)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=SRC",
                        help="also measure hybridcore imported from SRC (a copy of src/), side by side")
    args = parser.parse_args()
    measure(args.rounds, [int(x) for x in args.sizes.split(",")], args.compare)
    return 0 if summary() else 1


if __name__ == "__main__":
    raise SystemExit(main())
