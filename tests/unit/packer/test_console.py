"""The console: text cleaning, Packer's error lines, events and states, tables at 80 columns, wrapping."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest

from hybridcore.packer.console import events as ev
from hybridcore.packer.console import report, terminal
from hybridcore.packer.console.live import LiveView
from hybridcore.packer.console.narrate import Narrator
from hybridcore.packer.console.packer_errors import error_lines
from hybridcore.packer.console.stream import LinePrinter
from hybridcore.packer.console.tables import artifacts_table, cache_table, human_bytes, runs_table

# Real Packer 1.6.6 output of a failing shell-local provisioner (build -machine-readable).
REAL_BUILD_FAILURE = """\
1795892644,,ui,say,==> null.a: Running local shell script: /tmp/packer-shell3957148718
1795892644,,ui,message,    null.a: hi%!(PACKER_COMMA) there
1795892644,,ui,say,==> null.a: Provisioning step had errors: Running the cleanup provisioner%!(PACKER_COMMA) if present...
1795892644,,ui,error,Build 'null.a' errored after 9 milliseconds 942 microseconds: Script exited with non-zero exit status: 3.Allowed exit codes are: [0]
1795892644,,ui,say,\\n==> Wait completed after 9 milliseconds 993 microseconds
1795892644,,error-count,1
1795892644,,ui,error,\\n==> Some builds didn't complete successfully and had errors:
1795892644,null.a,error,Script exited with non-zero exit status: 3.Allowed exit codes are: [0]
1795892644,,ui,error,--> null.a: Script exited with non-zero exit status: 3.Allowed exit codes are: [0]
1795892644,,ui,say,\\n==> Builds finished but no artifacts were created.
"""
# The same failure with -on-error=abort (real Packer 1.6.6): the step's error comes once more as "==> b: msg".
REAL_ABORT_FAILURE = """\
1795899734,,ui,message,    null.smoke: check ok
1795899734,,ui,error,==> null.smoke: Script exited with non-zero exit status: 3.Allowed exit codes are: [0]
1795899734,,ui,error,==> null.smoke: Step "StepProvision" failed%!(PACKER_COMMA) aborting...
1795899734,,ui,error,==> null.smoke: aborted: skipping cleanup of step "StepConnect"
1795899734,,ui,error,Build 'null.smoke' errored after 9 milliseconds 473 microseconds: Script exited with non-zero exit status: 3.Allowed exit codes are: [0]
1795899734,,error-count,1
1795899734,,ui,error,\\n==> Some builds didn't complete successfully and had errors:
1795899734,null.smoke,error,Script exited with non-zero exit status: 3.Allowed exit codes are: [0]
1795899734,,ui,error,--> null.smoke: Script exited with non-zero exit status: 3.Allowed exit codes are: [0]
"""
# Real Packer 1.6.6 `validate` of a template with an unknown argument (plain output).
REAL_VALIDATE_FAILURE = """\
Error: Unsupported argument

  on b/bad.pkr.hcl line 3:
  (source code not available)

An argument named "bogus" is not expected here.


"""


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[31mred\x1b[0m text", "red text"),
    ("\x1b]8;;https://evil.example\x07click\x1b]8;;\x07", "click"),
    ("\x1b]0;new title\x1b\\after", "after"),
    ("::set-output name=x::1", ":\u200b:set-output name=x::1"),
    ("   ::warning::look", "   :\u200b:warning::look"),
    ("text ##[error]fake", "text ##\u200b[error]fake"),
    ("a\rb\x07c\x00d", "abcd"),
    ("tab\there", "tab    here"),
    ("\u202eevil", "evil"),
    ("[/x] [link=https://x]y[/link] [bold]", "[/x] [link=https://x]y[/link] [bold]"),
])
def test_clean(raw: str, shown: str) -> None:
    assert terminal.clean(raw) == shown


def test_no_output_line_starts_a_workflow_command(capsys: pytest.CaptureFixture[str]) -> None:
    printer = LinePrinter(["web"], multi=False)
    printer.line("web", "stdout", "1,,ui,message,::add-mask::x\\n::error::boom")
    printer.line("web", "stderr", "::stop-commands::tok")
    out = capsys.readouterr()
    for line in (out.out + out.err).splitlines():
        assert not line.lstrip().startswith("::"), line


def test_markup_in_packer_text_is_printed_literally(capsys: pytest.CaptureFixture[str]) -> None:
    view = LiveView(terminal.console(columns=120), ["web"])
    view.line("web", "stdout", "1,,ui,say,[/x] [link=https://evil]hi[/link]")
    rendered = terminal.console(columns=120)
    with rendered.capture() as cap:
        rendered.print(view.render())
    assert "[/x] [link=https://evil]hi[/link]" in cap.get()


def test_error_lines_of_a_real_build_each_once() -> None:
    assert error_lines(REAL_BUILD_FAILURE) == [
        "null.a: Script exited with non-zero exit status: 3.Allowed exit codes are: [0]"]


def test_error_lines_of_an_aborted_build_each_once() -> None:
    assert error_lines(REAL_ABORT_FAILURE) == [
        "null.smoke: Script exited with non-zero exit status: 3.Allowed exit codes are: [0]",
        'null.smoke: Step "StepProvision" failed, aborting...',
        'null.smoke: aborted: skipping cleanup of step "StepConnect"']


def test_error_lines_of_a_real_validate() -> None:
    assert error_lines(REAL_VALIDATE_FAILURE) == [
        'Error: Unsupported argument\n  on b/bad.pkr.hcl line 3:\nAn argument named "bogus" is not expected here.']


def test_error_lines_of_machine_readable_diagnostic() -> None:
    line = ("1795892650,,ui,error,Error: Unsupported argument\\n\\n  on b/bad.pkr.hcl line 3:\\n  (source code not "
            "available)\\n\\nAn argument named \"bogus\" is not expected here.\\n\\n")
    assert error_lines(line) == error_lines(REAL_VALIDATE_FAILURE)


def test_events_round_trip() -> None:
    line = ev.encode(ev.RETRY, attempt=1, of=3, category="network", wait_s=5.8)
    e = ev.decode("web", line)
    assert e == ev.Event("retry", "web", {"attempt": 1, "of": 3, "category": "network", "wait_s": 5.8})
    assert ev.message(e) == ("attempt 1/3 failed (network, retryable); retrying in 5.8s", "yellow")
    assert ev.decode("web", "start:2").fields == {"attempt": 2}
    assert ev.decode("web", "finish:ok").fields == {"status": "ok"}
    assert ev.message(ev.decode("web", "made-up:{}")) is None


def test_the_runners_own_events_are_understood() -> None:
    """Lines exactly as ``Session.emit`` writes them (names and fields from session.py)."""
    from hybridcore.packer.session import Session

    lines: list[tuple[str, str, str]] = []
    fake = Session.__new__(Session)
    object.__setattr__(fake, "observer", lambda *a: lines.append(a))

    class NoLog:
        def event(self, *a: Any, **k: Any) -> None:
            pass

    object.__setattr__(fake, "events", NoLog())
    fake.emit("web", "retry", 30, attempt=1, of=2, category="network", wait_s=5.8, message="x")
    fake.emit("*", "interrupt", 30, signal="SIGINT", grace_s=60, kill=False, message="x")
    fake.emit("web", "lock_wait", 30, holder={"host": "ci-7", "pid": 12, "command_id": "01ABC"}, timeout_s=300)
    shown = [ev.message(ev.decode(t, line)) for t, _, line in lines]
    assert [m[0] if m else None for m in shown] == [
        "attempt 1/2 failed (network, retryable); retrying in 5.8s",
        "interrupt received: stopping Packer (SIGINT); waiting up to 60s for Packer to clean up. "
        "Press Ctrl-C again to stop now.",
        "waiting up to 300s for the build lock held by host ci-7, pid 12, command 01ABC"]


class Recorder:
    def __init__(self) -> None:
        self.states: list[tuple[str, str, str]] = []
        self.messages: list[tuple[str | None, str]] = []
        self.lines: list[tuple[str, str]] = []

    def line(self, target: str, stream: str, line: str) -> None:
        self.lines.append((target, line))

    def state(self, target: str, state: str, detail: str = "") -> None:
        self.states.append((target, state, detail))

    def message(self, target: str | None, text: str, style: str | None = None) -> None:
        self.messages.append((target, text))


ACK = ("interrupt received: stopping Packer (SIGINT); waiting up to 60s for Packer to clean up. "
       "Press Ctrl-C again to stop now.")


def test_interrupt_from_the_cli_handler_only_while_packer_runs() -> None:
    view = Recorder()
    narrator = Narrator(view, grace=60)
    assert narrator.interrupted() is False and view.messages == []
    narrator = Narrator(view, grace=60)
    narrator("web", "event", "start:1")
    assert narrator.interrupted() is True
    assert view.messages[-1] == (None, ACK)
    assert ("web", "stopping", "") in view.states
    # The runner's own interrupt event is not announced a second time.
    narrator("*", "event", ev.encode(ev.INTERRUPT, signal="SIGINT", grace_s=60, kill=False))
    assert len(view.messages) == 1


def test_interrupt_events_from_the_runner() -> None:
    view = Recorder()
    narrator = Narrator(view, grace=60)
    narrator("web", "event", "start:1")
    narrator("*", "event", ev.encode(ev.INTERRUPT, signal="SIGINT", grace_s=60, kill=False))
    narrator("web", "event", ev.encode(ev.STOPPING))
    assert view.messages == [(None, ACK)] and view.states[-1] == ("web", "stopping", "")
    narrator("*", "event", ev.encode(ev.INTERRUPT, signal="SIGINT", grace_s=60, kill=True))
    assert view.messages[-1][1].startswith("second interrupt: killing Packer now (SIGKILL)")
    narrator("web", "event", ev.encode(ev.ESCALATE, signal="SIGKILL"))
    assert view.messages[-1] == ("web", "Packer still running: SIGKILL sent; it may leave temporary VMs behind")
    narrator("web", "event", "finish:interrupted")
    assert view.states[-1] == ("web", "interrupted", "")


def test_an_interrupt_leaves_finished_targets_as_they_ended() -> None:
    view = LiveView(terminal.console(columns=100), ["slow", "quick"])
    narrator = Narrator(view, grace=60)
    narrator("slow", "event", "start:1")
    narrator("quick", "event", "start:1")
    narrator("quick", "event", "finish:ok")
    narrator("*", "event", ev.encode(ev.INTERRUPT, signal="SIGINT", grace_s=60, kill=False))
    for target in ("slow", "quick"):  # the runner announces the stop to every target of the command
        narrator(target, "event", ev.encode(ev.STOPPING))
    assert view.rows["quick"].state == "ok" and view.rows["slow"].state == "stopping"
    narrator("quick", "event", ev.encode(ev.ESCALATE, signal="SIGTERM"))
    assert view.rows["quick"].state == "ok"
    # An attempt that ended and waits for its retry is still the command's to stop.
    narrator("flaky", "event", "start:1")
    narrator("flaky", "event", "finish:failed")
    narrator("flaky", "event", ev.encode(ev.RETRY, attempt=1, of=2, category="network", wait_s=5))
    narrator("flaky", "event", ev.encode(ev.STOPPING))
    assert view.rows["flaky"].state == "stopping"


def test_fail_fast_stop_is_cancelled_not_interrupted() -> None:
    view = Recorder()
    narrator = Narrator(view, grace=5)
    narrator("web", "event", "start:1")
    narrator("other", "event", "start:1")
    narrator("web", "event", "finish:failed")
    narrator("other", "event", ev.encode(ev.STOPPING))
    narrator("other", "event", "finish:interrupted")
    assert ("other", "stopping", "fail-fast") in view.states
    assert view.states[-1] == ("other", "cancelled", "")
    assert view.messages == [(None, "--fail-fast: web failed; stopping the other targets")]


@pytest.mark.parametrize(("event", "state", "text"), [
    (ev.encode(ev.TIMEOUT, seconds=30), ("stopping", "timeout"), "timed out after 30s: stopping Packer"),
    (ev.encode(ev.ESCALATE, signal="SIGTERM"), ("stopping", "SIGTERM"), "Packer still running: SIGTERM sent"),
    (ev.encode(ev.LOCK_WAIT, holder=None, timeout_s=0), ("waiting for lock", ""),
     "waiting up to 0s for the build lock held by another build"),
    (ev.encode(ev.RETRY, attempt=2, of=3, category="timeout", wait_s=10), ("retrying", "in 10s"),
     "attempt 2/3 failed (timeout, retryable); retrying in 10.0s"),
])
def test_event_states_and_messages(event: str, state: tuple[str, str], text: str) -> None:
    view = Recorder()
    Narrator(view)("web", "event", event)
    assert view.states[-1] == ("web", *state)
    assert view.messages == [("web", text)]


def test_abandoned_run_is_said_once() -> None:
    view = Recorder()
    Narrator(view)("*", "event", ev.encode(ev.ABANDONED, run_id="01ABC/web", why="pid 12 is gone"))
    assert view.messages == [(None, "run 01ABC/web was abandoned (pid 12 is gone); its leftovers were cleaned up")]


def test_live_view_shows_stopping_and_the_packer_error() -> None:
    view = LiveView(terminal.console(columns=100), ["web", "other"])
    narrator = Narrator(view, grace=60)
    narrator("web", "event", "start:1")
    narrator("other", "event", "start:1")
    narrator("web", "stdout", REAL_BUILD_FAILURE.splitlines()[3])
    narrator("web", "stdout", REAL_BUILD_FAILURE.splitlines()[9])
    narrator.interrupted()
    out = terminal.console(columns=100)
    with out.capture() as cap:
        out.print(view.render())
    text = cap.get()
    assert "stopping" in text and "running" not in text
    assert "Script exited with non-zero" in text and "no artifacts were created" not in text


def _render(fn: Any, rows: Any, columns: int = 80) -> str:
    out = terminal.console(columns=columns)
    with out.capture() as cap:
        fn(rows, out)
    return cap.get()


def test_tables_keep_ids_whole_on_80_columns() -> None:
    rows = [{"id": f"01J0Z3K5V8X9Y2T4R6P8N0M2Q{i}/a-rather-long-target-name-{i}", "kind": "build",
             "target": f"a-rather-long-target-name-{i}", "env": "production", "status": "failed", "exit_code": 75,
             "category": "cloud-transient", "started_at": "2026-01-02T03:04:05.678+00:00"} for i in range(3)]
    text = _render(runs_table, rows)
    assert all(len(line) <= 80 for line in text.splitlines())
    for r in rows:
        assert any(r["id"] in line for line in text.splitlines()), text
    records = [{"build_id": "01J0Z3K5V8X9Y2T4R6P8N0M2QA", "target": "vsphere-windows-2022-datacenter",
                "builder_type": "vsphere-iso", "builder_id": "jetbrains.vsphere", "platform": "vsphere",
                "region": "dc1", "image_ids": ["windows-2022-datacenter-golden-20260102-0304"], "files": []}]
    text = _render(artifacts_table, records)
    assert "01J0Z3K5V8X9Y2T4R6P8N0M2QA" in text and "vsphere-iso" in text and "jetbrains" not in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_runs_table_drops_columns_on_80_columns_instead_of_folding_them() -> None:
    rows = [{"id": f"01M8HZ708E7FF03MA8YM0ZZPZ{i}/packer-legacy-legacy", "kind": "validate",
             "target": "packer-legacy-legacy", "env": "dev", "status": "failed", "exit_code": 1,
             "category": "validation", "started_at": "2026-11-28T20:58:11.5+00:00"} for i in range(3)]
    rows.append({**rows[0], "id": "01M8HZ75PVBM41KEFX91KYPZB0/packer-legacy-legacy", "status": "ok",
                 "exit_code": 0, "category": "ok"})
    text = _render(runs_table, rows)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert len(lines) == 2 + len(rows), text  # a header, a rule, one line per run: nothing folds
    for r in rows:
        line = next(line for line in lines if r["id"] in line)
        assert "validate" in line and (r["status"] in line), text
    assert "target" not in lines[0] and "env" not in lines[0]  # the target already ends the run id
    ok_line = next(line for line in lines if "01M8HZ75PV" in line)
    assert ok_line.split() == [rows[-1]["id"], "validate", "ok"]  # category "ok" repeats the status
    wide = _render(runs_table, rows, columns=160)
    assert wide.splitlines()[0].split() == ["run", "target", "kind", "env", "status", "category", "started"]
    assert "2026-11-28 20:58" in wide


@pytest.mark.parametrize(("retryable", "code", "word"), [
    (True, 75, "retryable"), (False, 75, "try again later"), (False, 1, "hard stop"), (False, 130, "")])
def test_an_exit_75_is_never_called_a_hard_stop(retryable: bool, code: int, word: str) -> None:
    assert report.retry_word(retryable, code) == word


def test_cache_table_human_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    entry = "3f786850e387550fdab836ed7e6dc881de23001b.iso"
    text = _render(cache_table, [{"entry": entry, "size": 734003200, "url": "https://mirror/x.iso",
                                  "last_used": 1700000000}])
    assert entry in text and "700.0 MiB" in text and "734003200" not in text
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KiB"
    capsys.readouterr()
    assert _render(cache_table, []) == ""  # no header over nothing: one line says so
    assert "the shared cache is empty" in capsys.readouterr().err


def test_hints_wrap_between_words(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(terminal, "width", lambda stderr=False: 40)
    hint = ("review the changes, then run 'hybridcore-packer validate web' to trust them (or revert them); "
            "supercalifragilisticexpialidocious-words stay whole")
    terminal.emit_wrapped(hint, lead="hint: ")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) > 2
    words = hint.split()
    assert " ".join(" ".join(lines).replace("hint: ", "", 1).split()) == " ".join(words)
    for line in lines:
        for word in line.split():
            assert word in words or word == "hint:", word


def test_parallel_lines_are_never_torn(tmp_path: Path) -> None:
    """Threads printing at once through one printer: every line whole and with its own prefix."""
    out_path = tmp_path / "out.txt"
    targets = [f"target-{i}" for i in range(6)]
    with out_path.open("w") as fh:
        import sys

        saved = sys.stdout
        sys.stdout = fh
        try:
            printer = LinePrinter(targets, multi=True)

            def work(name: str) -> None:
                for n in range(2000):
                    printer.line(name, "stdout", f"1,,ui,message,{name} says line {n} " + "x" * (n % 50))

            threads = [threading.Thread(target=work, args=(t,)) for t in targets]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.stdout = saved
    lines = out_path.read_text().splitlines()
    assert len(lines) == 6 * 2000
    for line in lines:
        prefix, _, text = line.partition(" | ")
        assert text.startswith(prefix.strip() + " says line "), line


def test_stdout_written_in_one_call_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[str] = []

    class Sink(io.StringIO):
        def write(self, s: str) -> int:
            writes.append(s)
            return len(s)

    monkeypatch.setattr("sys.stdout", Sink())
    LinePrinter(["a", "bb"], multi=True).line("a", "stdout", "1,,ui,say,one\\ntwo")
    assert writes == ["a  | one\n", "a  | two\n"]


@pytest.mark.parametrize("line", [
    "1,,ui,say,plain", "1,web,ui,error,bad%!(PACKER_COMMA) worse\\nsecond", "1,,ui,message,a,b,,c",
    "1,,ui,say", "1,,ui", "1,,artifact,0,id,x", "x1,,ui,say,not machine-readable", "²,,ui,say,no",
    "1,,ui,message,", "1,,ui,say,tab\\tand\\r\\nreturn", "1,,ui,%!(PACKER_COMMA)error,odd kind", "",
    "plain text, with, commas", "1,,ui,say,back\\\\slash",
])
def test_shown_text_reads_lines_as_the_parser_does(line: str) -> None:
    """The printer's own fast reading of a line agrees with machine_readable.parse_line + ui_text."""
    from hybridcore.packer.console.stream import packer_text
    from hybridcore.packer.machine_readable import parse_line, ui_text

    ml = parse_line(line)
    if ml is None:
        expected: tuple[list[str], bool] | None = ([line], False)
    else:
        text = ui_text(ml)
        expected = None if text is None else (text.splitlines() or [""], ml.data[0] == "error")
    assert packer_text(line) == expected
