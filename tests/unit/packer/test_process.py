"""The process layer: concurrent pipes, bounded memory, redaction before anything is stored, signals."""

from __future__ import annotations

import os
import signal
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
    # A child that ignores SIGINT and SIGTERM: only SIGKILL stops it. A shell that ignores them and
    # execs sleep (ignored signals survive exec) is ready within milliseconds; a Python child could
    # still be starting when the 1 s timeout fires on a loaded machine, and die of the SIGINT.
    req = ProcessRequest(argv=["/bin/sh", "-c", "trap '' INT TERM; exec sleep 60"], env=dict(os.environ),
                         cwd=tmp_path, stdout_path=tmp_path / "out.log", stderr_path=tmp_path / "err.log",
                         timeout=1.0, interrupt_grace=0.3, term_grace=0.3)
    out = run(req)
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


def test_stop_does_not_wait_for_a_grandchild_holding_the_pipes(tmp_path: Path) -> None:
    # The child exits on SIGINT but leaves a grandchild that ignores INT/TERM with stdout open:
    # the group is escalated to SIGKILL and the call returns within the two graces.
    import time

    ready = tmp_path / "ready"
    code = ("import os,signal,subprocess,sys,pathlib\n"
            "subprocess.Popen(['/bin/sh','-c',\"trap '' INT TERM; touch " + str(ready) + "; sleep 60\"])\n"
            "signal.signal(signal.SIGINT, lambda *a: sys.exit(1))\n"
            "signal.pause()\n")
    cancel = Cancel()
    events: list[tuple[str, dict[str, Any]]] = []

    def watcher() -> None:
        while not ready.exists():
            time.sleep(0.01)
        cancel.request()

    t = threading.Thread(target=watcher)
    t.start()
    began = time.monotonic()
    out = run(_req(tmp_path, code, cancel=cancel, interrupt_grace=0.5, term_grace=0.5,
                   on_event=lambda name, fields: events.append((name, fields))))
    t.join()
    assert time.monotonic() - began < 0.5 + 0.5 + 5
    assert out.ending == "interrupted" and out.signals == ("SIGINT", "SIGTERM", "SIGKILL")
    assert events == [("escalate", {"signal": "SIGTERM"}), ("escalate", {"signal": "SIGKILL"})]


def test_second_request_kills_at_once(tmp_path: Path) -> None:
    import time

    ready = tmp_path / "ready"
    code = (f"import signal,time,pathlib\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            f"signal.signal(signal.SIGTERM, signal.SIG_IGN)\npathlib.Path({str(ready)!r}).write_text('1')\n"
            f"while True: time.sleep(1)\n")
    cancel = Cancel()

    def watcher() -> None:
        while not ready.exists():
            time.sleep(0.01)
        cancel.request(signal.SIGTERM)
        cancel.request()

    t = threading.Thread(target=watcher)
    t.start()
    out = run(_req(tmp_path, code, cancel=cancel, interrupt_grace=60, term_grace=60))
    t.join()
    # Both requests may land before the waiting thread looks: the first signal is still sent
    # (passed on as it came, SIGTERM here), then SIGKILL at once.
    assert out.signals == ("SIGTERM", "SIGKILL") and out.exit_code == -9


def test_log_cap_truncates_with_a_note(tmp_path: Path) -> None:
    out = run(_req(tmp_path, "for i in range(5000): print('x' * 99)", log_max_bytes=10_000))
    text = (tmp_path / "out.log").read_text()
    assert out.exit_code == 0 and len(text) < 10_200
    assert text.rstrip().endswith("([build] log_max_mb)]") and out.log_notes
    assert out.stdout.count("\n") == 5000  # the tail still sees everything


def test_disk_full_log_note_and_no_traceback(tmp_path: Path, capsys: Any) -> None:
    from hybridcore.packer import pipes

    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    sink = pipes.Sink(Full(), None)  # type: ignore[arg-type]
    assert sink.write(b"line\n") == 0 and sink.note == "log truncated: disk full"
    sink.flush()
    assert sink.write(b"more\n") == 0
