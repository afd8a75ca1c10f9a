"""The reading side of the process layer: chunked reads split into exactly the lines a child printed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hybridcore.packer import pipes


def _pump(tmp_path: Path, data: list[bytes], redact: object = None) -> tuple[list[str], bytes, pipes.Tail]:
    """Feed ``data`` (each item one write) through ``pump`` over a real pipe; lines seen, log, tail."""
    rfd, wfd = os.pipe()
    seen: list[str] = []
    tail = pipes.Tail(1 << 20)
    log = tmp_path / "out.log"

    def writer() -> None:
        with os.fdopen(wfd, "wb", buffering=0) as w:
            for item in data:
                w.write(item)

    t = threading.Thread(target=writer)
    t.start()
    pipes.pump(os.fdopen(rfd, "rb"), pipes.Sink(log.open("wb"), None), tail, "stdout",
               redact if callable(redact) else (lambda s: s), lambda stream, line: seen.append(line))
    t.join()
    return seen, log.read_bytes(), tail


def test_lines_split_across_writes_arrive_whole_and_in_order(tmp_path: Path) -> None:
    seen, log, tail = _pump(tmp_path, [b"one\ntw", b"o\r\n", b"three\nfour"])
    assert seen == ["one", "two", "three", "four"]  # a last line without newline still counts
    assert log == b"one\ntwo\nthree\nfour\n"
    assert tail.text() == "one\ntwo\nthree\nfour\n"


def test_a_line_longer_than_the_limit_arrives_in_pieces(tmp_path: Path) -> None:
    long = b"x" * (pipes._CHUNK + pipes._CUT_WINDOW + 10)
    seen, log, _ = _pump(tmp_path, [long + b"\nend\n"])
    assert [len(s) for s in seen] == [pipes._CHUNK, pipes._CUT_WINDOW + 10, 3]
    assert log.count(b"\n") == 3


def test_every_line_is_redacted_before_log_tail_and_callback(tmp_path: Path) -> None:
    data = [b"pw=swordfish\n" * 500, b"sword", b"fish\n"]  # a secret split across two reads too
    seen, log, tail = _pump(tmp_path, data, redact=lambda s: s.replace("swordfish", "<redacted>"))
    assert len(seen) == 501 and b"swordfish" not in log and "swordfish" not in tail.text()
    assert all("swordfish" not in line for line in seen) and seen[-1] == "<redacted>"


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    seen, _, _ = _pump(tmp_path, [b"ok \xff\xfe\n", "é\n".encode()])
    assert seen == ["ok \ufffd\ufffd", "é"]


def test_a_secret_straddling_a_long_lines_cut_is_never_split(tmp_path: Path) -> None:
    from hybridcore.packer.secrets import Redactor

    secret = "straddling-secret-9f2c"
    for offset in (1, 7, len(secret) - 1):
        head = "é" * 1000 + "x" * (pipes._CHUNK - 2000 - offset)   # multi-byte characters before the cut
        line = (head + secret + "y" * (pipes._CUT_WINDOW + 5000)).encode()   # long enough to be cut
        assert line.index(secret.encode()) < pipes._CHUNK < line.index(secret.encode()) + len(secret)
        seen, log, _ = _pump(tmp_path, [line + b"\nend\n"], redact=Redactor([secret]))
        assert secret.encode() not in log and b"<redacted>" in log, offset
        assert len(seen) == 3 and all(secret not in s for s in seen) and seen[-1] == "end"  # cut once
        assert b"".join(s.encode() for s in seen[:-1]) == line.replace(secret.encode(), b"<redacted>")
