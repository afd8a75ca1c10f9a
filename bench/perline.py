"""What each streamed line costs inside the wrapper, stage by stage (in-process, µs per line).

Every line Packer prints goes: the process layer's reader (decode, redact, write the raw log, keep
the tail) -> the attempt's ``on_line`` (parse the machine-readable line for artifacts, the JSONL event)
-> the CLI's observer (print it for a person). This times each stage alone on the same 20,000
machine-readable lines, best of ``--repeat``, so a change to one stage shows up as a number.
Usage: python bench/perline.py [--lines N] [--repeat R]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import header

from hybridcore.logs import EventLog
from hybridcore.packer import pipes, process
from hybridcore.packer.machine_readable import ArtifactCollector, parse_line
from hybridcore.packer.secrets import Redactor

SECRETS = ("bench-secret-token-0123456789", "hunter2-but-longer", "AKIAIOSFODNN7EXAMPLE")


def lines(n: int) -> list[str]:
    return [f"1795892769,,ui,message,    null.stream: line {i}: the provisioner reports progress on its work here"
            for i in range(n)]


def best(repeat: int, n: int, fn: Callable[[], object]) -> float:
    """Best-of-``repeat`` µs per line."""
    out = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out / n * 1e6


@contextlib.contextmanager
def stdout_to(path: Path) -> Iterator[None]:
    """Point fd 1 and ``sys.stdout`` at a file (what a CI log or ``> file`` gives the CLI)."""
    saved_fd = os.dup(1)
    saved = sys.stdout
    with path.open("w") as fh:
        os.dup2(fh.fileno(), 1)
        sys.stdout = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), line_buffering=False)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stdout = saved
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


def measure(n: int, repeat: int) -> dict[str, float]:
    header(f"per-line costs in-process ({n:,} machine-readable lines, best of {repeat})")
    text = lines(n)
    raw = ("\n".join(text) + "\n").encode()
    redact = Redactor(SECRETS)
    none = Redactor(())
    figures: dict[str, float] = {}
    figures["redact (3 secrets)"] = best(repeat, n, lambda: [redact(t) for t in text])
    figures["redact (no secrets)"] = best(repeat, n, lambda: [none(t) for t in text])
    figures["parse_line"] = best(repeat, n, lambda: [parse_line(t) for t in text])

    def collect() -> None:
        c = ArtifactCollector()
        for t in text:
            ml = parse_line(t)
            if ml is not None:
                c.feed(ml)

    figures["parse_line + ArtifactCollector.feed"] = best(repeat, n, collect)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        events = EventLog(base / "events.jsonl", "01BENCH")
        figures["EventLog.line (JSONL event)"] = best(repeat, n, lambda: [events.line("t", "stdout", t) for t in text])
        events.close()

        source = base / "packer-stdout.txt"   # a real file descriptor, as a pipe gives the reader
        source.write_bytes(raw)

        def pump(on_line: process.LineCallback | None) -> None:
            with (base / "stdout.log").open("wb") as sink:
                pipes.pump(source.open("rb"), pipes.Sink(sink, None), pipes.Tail(process.TAIL_BYTES), "stdout",
                           redact, on_line)

        figures["process reader (decode, redact, raw log, tail)"] = best(repeat, n, lambda: pump(None))
        from hybridcore.packer.console.narrate import Narrator
        from hybridcore.packer.console.stream import LinePrinter

        with stdout_to(base / "console.txt"):
            show = Narrator(LinePrinter(["t"]))
            figures["console observer (one target, stdout to a file)"] = best(
                repeat, n, lambda: [show("t", "stdout", t) for t in text])
            show_multi = Narrator(LinePrinter(["t", "other"], multi=True))
            figures["console observer (several targets)"] = best(
                repeat, n, lambda: [show_multi("t", "stdout", t) for t in text])

    for name, us in figures.items():
        print(f"   {name}: {us:.2f} µs/line")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    measure(args.lines, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
