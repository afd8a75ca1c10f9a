"""What a terminal does not show: escape sequences and control characters.

One definition for two users: ``console.terminal.clean`` strips them before printing untrusted text, and
the redactor searches each line as a terminal shows it too, so a secret split by a colour code or a
control character is still caught.
"""

from __future__ import annotations

import functools
import re

# The patterns compile on first use (module __getattr__ and the getters below): a line of printable
# ASCII, which is nearly every line, never needs them, and compiling them cost ~1.5 ms of CPU before
# Packer could start (measured).

# CSI (colours, cursor), OSC (hyperlinks, titles; BEL or ST ended), DCS/SOS/PM/APC strings, 8-bit
# CSI/OSC, the remaining two-character escapes.
_ESCAPES_SOURCE = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# C0/C1 controls (not the tab) and bidi overrides that make text display other than it reads.
_CONTROLS_SOURCE = r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
_ASCII_SHOWN = bytes(range(0x20, 0x7F)) + b"\t"


@functools.cache
def escapes() -> re.Pattern[str]:
    """``TERMINAL_ESCAPES``: the escape sequences a terminal acts on instead of showing."""
    return re.compile(_ESCAPES_SOURCE)


@functools.cache
def controls() -> re.Pattern[str]:
    """``TERMINAL_CONTROLS``: one control or bidi character a terminal does not show as itself."""
    return re.compile(_CONTROLS_SOURCE)


@functools.cache
def unshown_token() -> re.Pattern[str]:
    """``UNSHOWN``: an escape sequence or a control character."""
    return re.compile(f"({_ESCAPES_SOURCE}|{_CONTROLS_SOURCE})")


_LAZY = {"TERMINAL_ESCAPES": escapes, "TERMINAL_CONTROLS": controls, "UNSHOWN": unshown_token}


def __getattr__(name: str) -> re.Pattern[str]:
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def strip_unshown(text: str) -> str:
    """``text`` as a terminal shows it. Every escape starts with a control character, so the escape
    pattern is tried only where the one-class control search stops (fast on long lines)."""
    parts: list[str] = []
    pos = 0
    token_at = unshown_token().match
    for m in controls().finditer(text):
        if m.start() < pos:
            continue  # inside an escape already removed
        token = token_at(text, m.start())
        parts.append(text[pos:m.start()])
        pos = token.end() if token is not None else m.end()
    parts.append(text[pos:])
    return "".join(parts)


def unshown(text: str) -> bool:
    """Whether ``text`` holds a character a terminal does not show. Every escape starts with a control
    character, so this looks for controls only, by the cheapest exact test for the text at hand (it
    runs on every line)."""
    if text.isascii():
        # What is left once every printable character and the tab are deleted (C speed).
        return bool(text.encode("ascii").translate(None, _ASCII_SHOWN))
    if text.isprintable():
        return False
    return controls().search(text) is not None
