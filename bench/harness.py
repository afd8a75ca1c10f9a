"""Shared measuring tools for the benchmarks: side-by-side runs, CPU time, peak memory, the verdict lines.

Every figure of issue 14 is measured the same way: the wrapper and its baseline run alternately in
one process (so background load hits both alike), each run's wall time, CPU time (user + system of
the whole process tree, from ``wait4``) and peak RSS are taken, and the median of each is reported.

Measured commands run with ``PYTHONDONTWRITEBYTECODE`` removed from their environment: users run
compiled bytecode, and with an editable install that variable makes every start-up recompile.

``BENCH_NICE=-10`` (negative needs root) runs the benchmark, and so every measured command on both
sides, at that scheduling priority: on a machine other work keeps busy, wall times then come close
to an idle machine's instead of measuring the queue. The header says which was used. With the
kernel's autogroup scheduling a priority only counts within one session, and the wrapper starts
Packer in a session of its own, so ``packer`` is then reached through a two-line shim that raises
its session's priority too (bare Packer goes through the same shim, so both sides stay alike).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
HC = str(VENV_BIN / "hybridcore-packer")


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of every measured command: compiled bytecode allowed, no Packer checkpoint."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["CHECKPOINT_DISABLE"] = "1"
    if _SHIM_DIR:
        env["PATH"] = _SHIM_DIR + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def variants(compare: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--compare LABEL=SRC``: extra wrapper runs importing hybridcore from SRC (a copy of ``src/``,
    e.g. an older commit's or a prototype), measured in the same interleaved rounds as this tree."""
    out: dict[str, dict[str, str]] = {"": {}}
    for item in compare:
        label, _, src = item.partition("=")
        if not src:
            raise SystemExit(f"--compare wants LABEL=SRC_DIR, got {item!r}")
        out[f" [{label}]"] = {"PYTHONPATH": str(Path(src).resolve())}
    return out


_SHIM = """#!/bin/sh
echo {nice} > /proc/self/autogroup 2>/dev/null
exec {packer} "$@"
"""


def _apply_nice() -> tuple[str, str | None]:
    """Raise the benchmark's scheduling priority if ``BENCH_NICE`` asks for it; returns the header
    text and the folder of the ``packer`` shim (None when not boosting).

    With the kernel's autogroup scheduling (on by default) a process's nice value only counts
    against its own session, so the benchmark moves into a session of its own and sets that
    session's autogroup nice; it goes away with the benchmark."""
    wanted = os.environ.get("BENCH_NICE", "").strip()
    if not wanted:
        return "normal priority", None
    try:
        value = int(wanted)
        with contextlib.suppress(PermissionError):
            os.setsid()  # fails when already a process-group leader: then this session is adjusted
        autogroup = Path("/proc/self/autogroup")
        if autogroup.exists():
            before = autogroup.read_text().split()[-1]
            autogroup.write_text(str(value))
            if os.getsid(0) != os.getpid():
                atexit.register(autogroup.write_text, before)
        os.setpriority(os.PRIO_PROCESS, 0, value)
    except (OSError, ValueError) as exc:
        return f"normal priority (BENCH_NICE={wanted} refused: {exc})", None
    packer = shutil.which("packer")
    if packer is None:
        return f"nice {value} (BENCH_NICE; both sides alike)", None
    shim_dir = Path(tempfile.mkdtemp(prefix="hc-bench-shim-"))
    atexit.register(shutil.rmtree, shim_dir, True)
    shim = shim_dir / "packer"
    shim.write_text(_SHIM.format(nice=value, packer=packer))
    shim.chmod(0o755)
    return f"nice {value} (BENCH_NICE; both sides alike, Packer's own session too)", str(shim_dir)


NICE, _SHIM_DIR = _apply_nice()
PACKER = shutil.which("packer", path=_SHIM_DIR) if _SHIM_DIR else shutil.which("packer")


def header(title: str) -> None:
    print(f"== {title}")
    print(f"   cpus {os.cpu_count()} · loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())} · {NICE} · "
          f"python {sys.version.split()[0]} · PYTHONDONTWRITEBYTECODE unset for measured commands "
          f"(compiled bytecode, as installed)")


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float        # seconds
    cpu: float         # user + system seconds of the process and every descendant it reaped
    tree_rss_kib: int  # largest peak RSS of any one process in the tree (wait4's ru_maxrss)
    own_rss_kib: int   # the top process's own peak RSS (VmHWM, sampled until it exits)


def _own_hwm(pid: int, done: threading.Event, out: list[int]) -> None:
    path = f"/proc/{pid}/status"
    while True:
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        out[0] = max(out[0], int(line.split()[1]))
                        break
        except OSError:
            return
        if done.wait(0.05):
            return


def run(argv: Sequence[str], *, cwd: Path, env: dict[str, str], check: bool = True,
        stdout: int | None = subprocess.DEVNULL) -> Sample:
    """Run ``argv`` once to completion and measure it."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=subprocess.PIPE)
    hwm = [0]
    done = threading.Event()
    watcher = threading.Thread(target=_own_hwm, args=(proc.pid, done, hwm), daemon=True)
    watcher.start()
    assert proc.stderr is not None
    err = proc.stderr.read()  # drained so a chatty command cannot block on a full pipe
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, hwm[0])


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def interleave(runs: dict[str, Callable[[], Sample]], rounds: int, warmup: int = 1) -> dict[str, Series]:
    """Each callable ``warmup`` times unmeasured, then ``rounds`` rounds of all of them in turn."""
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    series = {name: Series(name) for name in runs}
    for i in range(rounds):
        # Alternate the order too, so neither side always runs right after the other's cache effects.
        order = list(runs) if i % 2 == 0 else list(reversed(runs))
        for name in order:
            series[name].samples.append(runs[name]())
    return series


def paired_ratio(a: Series, b: Series, attr: str = "wall") -> float:
    """Median of the per-round ratios a/b (robust to load that drifts during the run)."""
    return statistics.median(getattr(x, attr) / getattr(y, attr) for x, y in zip(a.samples, b.samples, strict=True))


def paired_diff(a: Series, b: Series, attr: str = "wall") -> float:
    return statistics.median(getattr(x, attr) - getattr(y, attr) for x, y in zip(a.samples, b.samples, strict=True))


RESULTS: list[tuple[str, str, bool]] = []


def verdict(name: str, value: str, ok: bool, target: str) -> None:
    """One figure against its target; ``summary`` repeats them all at the end."""
    line = f"{name}: {value} (target {target}) {'PASS' if ok else 'MISS'}"
    RESULTS.append((name, line, ok))
    print(f"   >> {line}")


def describe(series: Series) -> str:
    return (f"{series.name}: wall {series.median('wall') * 1e3:.0f} ms, cpu {series.median('cpu') * 1e3:.0f} ms, "
            f"peak rss {series.median('own_rss_kib') / 1024:.0f} MiB own / "
            f"{series.median('tree_rss_kib') / 1024:.0f} MiB tree (medians of {len(series.samples)})")


def summary() -> bool:
    print("== summary (every figure of issue 14, measured side by side in this run)")
    for _, line, _ in RESULTS:
        print(f"   {line}")
    print(f"   loadavg at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return all(ok for _, _, ok in RESULTS)
