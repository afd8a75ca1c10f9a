"""The process layer: concurrent pipes, bounded memory, redaction before anything is stored, signals."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

from hybridcore.packer.process import Cancel, FifoLog, ProcessRequest, run

PY = sys.executable


def _req(tmp_path: Path, code: str, **kw: Any) -> ProcessRequest:
    return ProcessRequest(argv=[PY, "-c", code], env=dict(os.environ), cwd=tmp_path,
                          stdout_path=tmp_path / "out.log", stderr_path=tmp_path / "err.log", **kw)


def test_large_output_on_both_pipes_without_deadlock_and_bounded_tail(tmp_path: Path) -> None:
    # 8 MiB on each pipe, interleaved: a reader per pipe is needed or the child blocks forever.
    code = ("import sys\nline='x'*1023\n"
            "for i in range(8192):\n sys.stdout.write(line+'\\n'); sys.stderr.write(line+'\\n')\n")
    out = run(_req(tmp_path, code, tail_bytes=64 * 1024))
    assert out.exit_code == 0 and out.ending == "exited"
    assert (tmp_path / "out.log").stat().st_size == 8192 * 1024
    assert (tmp_path / "err.log").stat().st_size == 8192 * 1024
    assert len(out.stdout) <= 64 * 1024 + 1024 and out.stdout_truncated and out.stderr_truncated


def test_lines_arrive_as_they_are_printed(tmp_path: Path) -> None:
    # The child prints one line, then waits until the test has seen it: proves streaming, not buffering.
    gate = tmp_path / "gate"
    code = (f"import os,sys,time\nprint('first', flush=True)\n"
            f"while not os.path.exists({str(gate)!r}): time.sleep(0.01)\nprint('second')\n")
    seen: list[str] = []

    def on_line(stream: str, line: str) -> None:
        seen.append(line)
        if line == "first":
            gate.write_text("go")

    out = run(_req(tmp_path, code, on_line=on_line, timeout=30))
    assert out.ending == "exited" and out.exit_code == 0 and seen == ["first", "second"]


def test_redaction_happens_before_files_tail_and_callbacks(tmp_path: Path) -> None:
    seen: list[str] = []
    out = run(_req(tmp_path, "print('pw=swordfish'); import sys; print('swordfish', file=sys.stderr)",
                   redact=lambda s: s.replace("swordfish", "<redacted>"),
                   on_line=lambda stream, line: seen.append(line)))
    for text in (out.stdout, out.stderr, (tmp_path / "out.log").read_text(),
                 (tmp_path / "err.log").read_text(), "".join(seen)):
        assert "swordfish" not in text
    assert "pw=<redacted>" in out.stdout


def test_fifo_log_is_redacted_on_the_way_to_disk(tmp_path: Path) -> None:
    env = dict(os.environ, CHILD_LOG_PATH=str(tmp_path / "child.fifo"))
    code = "import os\nopen(os.environ['CHILD_LOG_PATH'],'w').write('debug token=abc-secret-1\\n')\n"
    req = ProcessRequest(argv=[PY, "-c", code], env=env, cwd=tmp_path, stdout_path=tmp_path / "o",
                         stderr_path=tmp_path / "e", redact=lambda s: s.replace("abc-secret-1", "<redacted>"),
                         fifo_log=FifoLog(fifo=tmp_path / "child.fifo", dest=tmp_path / "child.log"))
    assert run(req).exit_code == 0
    assert (tmp_path / "child.log").read_text() == "debug token=<redacted>\n"
    assert not (tmp_path / "child.fifo").exists()
    assert oct((tmp_path / "child.log").stat().st_mode & 0o777) == "0o600"


def test_child_that_never_opens_its_fifo_log_does_not_hang(tmp_path: Path) -> None:
    req = ProcessRequest(argv=[PY, "-c", "pass"], env=dict(os.environ), cwd=tmp_path, stdout_path=tmp_path / "o",
                         stderr_path=tmp_path / "e",
                         fifo_log=FifoLog(fifo=tmp_path / "child.fifo", dest=tmp_path / "child.log"))
    assert run(req).exit_code == 0
    assert (tmp_path / "child.log").read_text() == ""
    assert not (tmp_path / "child.fifo").exists()


def test_timeout_escalates_int_then_term_then_kill(tmp_path: Path) -> None:
    # A child that ignores SIGINT and SIGTERM: only SIGKILL stops it.
    ready = tmp_path / "ready"
    code = (f"import signal,time,pathlib\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            f"signal.signal(signal.SIGTERM, signal.SIG_IGN)\npathlib.Path({str(ready)!r}).write_text('1')\n"
            f"while True: time.sleep(1)\n")
    out = run(_req(tmp_path, code, timeout=1.0, interrupt_grace=0.3, term_grace=0.3))
    assert out.ending == "timeout"
    assert out.signals == ("SIGINT", "SIGTERM", "SIGKILL")
    assert out.exit_code == -9


def test_cancel_sends_sigint_to_the_process_group(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (f"import signal,sys,time,pathlib\n"
            f"def h(*a):\n print('cleaning up', flush=True); sys.exit(7)\n"
            f"signal.signal(signal.SIGINT, h)\npathlib.Path({str(ready)!r}).write_text('1')\n"
            f"while True: time.sleep(1)\n")
    cancel = Cancel()

    def trigger(stream: str, line: str) -> None:
        pass

    def watcher() -> None:
        # Wait on the child's own readiness marker, not on time.
        import time

        while not ready.exists():
            time.sleep(0.01)
        cancel.request()

    t = threading.Thread(target=watcher)
    t.start()
    out = run(_req(tmp_path, code, cancel=cancel, on_line=trigger))
    t.join()
    assert out.ending == "interrupted" and out.signals == ("SIGINT",) and out.exit_code == 7
    assert "cleaning up" in out.stdout


def test_a_failing_child_exited_and_the_caller_judges_its_code(tmp_path: Path) -> None:
    out = run(_req(tmp_path, "import sys; print('Error: no'); sys.exit(3)"))
    assert (out.ending, out.exit_code, out.signals) == ("exited", 3, ())
    assert out.stdout == "Error: no\n"


def test_lines_are_split_like_readline_crlf_blank_and_unterminated(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    code = "import sys\nsys.stdout.write('a\\r\\n\\nb\\r\\r\\nlast')\n"
    out = run(_req(tmp_path, code, on_line=lambda stream, line: seen.append((stream, line))))
    assert seen == [("stdout", "a"), ("stdout", ""), ("stdout", "b"), ("stdout", "last")]
    assert (tmp_path / "out.log").read_text() == "a\n\nb\nlast\n"
    assert out.stdout == "a\n\nb\nlast\n"


def test_a_line_longer_than_the_chunk_arrives_in_pieces(tmp_path: Path) -> None:
    # 2.5 MiB without a newline: memory must not grow with it; it arrives as 1 MiB pieces.
    code = "import sys\nsys.stdout.write('y' * (5 << 19))\nsys.stdout.write('\\nend\\n')\n"
    sizes: list[int] = []
    out = run(_req(tmp_path, code, on_line=lambda stream, line: sizes.append(len(line))))
    assert sizes == [1 << 20, 1 << 20, 1 << 19, 3]
    assert out.exit_code == 0
    assert (tmp_path / "out.log").stat().st_size == (5 << 19) + 3 + len("end\n")  # each piece got a "\n"


def test_a_multibyte_character_split_across_reads_survives(tmp_path: Path) -> None:
    # The child writes "é" one byte at a time with a flush in between: lines are decoded whole.
    code = ("import sys\nb='\\u00e9'.encode()\nsys.stdout.buffer.write(b[:1]); sys.stdout.flush()\n"
            "import time; time.sleep(0.05)\nsys.stdout.buffer.write(b[1:] + b'\\n')\n")
    out = run(_req(tmp_path, code))
    assert out.stdout == "é\n"


def test_redaction_sees_whole_lines(tmp_path: Path) -> None:
    # A secret written in two pieces with a pause between must still be caught: the reader redacts lines,
    # not whatever one read() returned.
    code = ("import sys,time\nsys.stdout.write('tok=swo'); sys.stdout.flush(); time.sleep(0.05)\n"
            "sys.stdout.write('rdfish\\n')\n")
    out = run(_req(tmp_path, code, redact=lambda s: s.replace("swordfish", "<redacted>")))
    assert out.stdout == "tok=<redacted>\n"
    assert (tmp_path / "out.log").read_text() == "tok=<redacted>\n"


def test_without_pidfd_the_waitpid_thread_notices_the_exit(tmp_path: Path, monkeypatch: Any) -> None:
    # Kernels before 5.3 (and non-Linux systems) have no pidfd_open: a thread blocked in waitpid stands in.
    def no_pidfd(pid: int) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    out = run(_req(tmp_path, "import sys; print('hi'); sys.exit(4)"))
    assert (out.ending, out.exit_code, out.stdout) == ("exited", 4, "hi\n")
    out = run(_req(tmp_path, "import time; time.sleep(60)", timeout=0.3, interrupt_grace=5))
    assert (out.ending, out.signals, out.exit_code) == ("timeout", ("SIGINT",), -2)


def test_the_exit_watch_wakes_when_the_child_exits_not_at_its_timeout(tmp_path: Path) -> None:
    import subprocess

    from hybridcore.packer.process import _ExitWatch

    proc = subprocess.Popen([PY, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    watch = _ExitWatch(proc)
    try:
        assert not watch.wait(0.05)  # still running: the wait times out
        assert proc.stdin is not None
        proc.stdin.close()  # the child reads EOF and exits
        t0 = __import__("time").monotonic()
        assert watch.wait(600)
        assert __import__("time").monotonic() - t0 < 60  # woke on the exit, not after 600 s
        assert proc.returncode == 0
        assert watch.wait(0)  # and stays exited
    finally:
        watch.close()
        proc.kill()
        proc.wait()


def test_on_start_gets_the_pid_while_the_child_runs(tmp_path: Path) -> None:
    # The child waits for the hook's marker, so the hook provably ran while it was alive.
    gate = tmp_path / "gate"
    code = (f"import os,time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.01)\n"
            f"print(os.getpid())\n")
    pids: list[int] = []

    def on_start(pid: int) -> None:
        pids.append(pid)
        gate.write_text("go")

    out = run(_req(tmp_path, code, on_start=on_start, timeout=30))
    assert out.ending == "exited" and pids == [out.pid] and out.stdout == f"{out.pid}\n"


def test_a_failing_on_start_hook_does_not_lose_the_child(tmp_path: Path) -> None:
    def on_start(pid: int) -> None:
        raise RuntimeError("hook broke")

    out = run(_req(tmp_path, "print('still here')", on_start=on_start))
    assert (out.ending, out.exit_code, out.stdout) == ("exited", 0, "still here\n")
