"""What a terminal does not show: escape sequences and control characters.

One definition for two users: ``console.terminal.clean`` strips them before printing untrusted text, and
the redactor searches each line as a terminal shows it too, so a secret split by a colour code or a
control character is still caught.
"""

from __future__ import annotations

import re

# CSI (colours, cursor), OSC (hyperlinks, titles; BEL or ST ended), DCS/SOS/PM/APC strings, 8-bit
# CSI/OSC, the remaining two-character escapes.
TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# C0/C1 controls (not the tab) and bidi overrides that make text display other than it reads.
TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
UNSHOWN = re.compile(f"({TERMINAL_ESCAPES.pattern}|{TERMINAL_CONTROLS.pattern})")
_ASCII_SHOWN = bytes(range(0x20, 0x7F)) + b"\t"


def strip_unshown(text: str) -> str:
    """``text`` as a terminal shows it. Every escape starts with a control character, so the escape
    pattern is tried only where the one-class control search stops (fast on long lines)."""
    parts: list[str] = []
    pos = 0
    for m in TERMINAL_CONTROLS.finditer(text):
        if m.start() < pos:
            continue  # inside an escape already removed
        token = UNSHOWN.match(text, m.start())
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
    return TERMINAL_CONTROLS.search(text) is not None
