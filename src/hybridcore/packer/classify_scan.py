"""Fast line scanning for the classifier: find the lines a case-insensitive pattern matches.

Python's ``re`` loses its fast literal search under IGNORECASE, and Packer output can be megabytes of
provisioner chatter; so each pattern's longest required literal is located with ``str.find`` in the
lower-cased text first, and the regular expression only runs on those lines. The built-in catalogue's
patterns are ``LazyPattern``s: one compiles only when its literal occurs in the output, so a run that
succeeded, or failed with a few recognisable lines, compiles none or a handful of the ~450.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

__all__ = ["LazyPattern", "Regex", "candidate_lines", "literal_runs", "prefilter"]

_REGEX_META = frozenset(".^$*+?{}[]|()")


class LazyPattern:
    """A regular expression compiled on first use, with the ``re.Pattern`` calls the classifier makes.

    Compiling the whole built-in catalogue cost ~40 ms of CPU at the start of every run (measured),
    while the prefilter needs only the source text. Equal (and hashed) like ``re.Pattern``: by source
    and flags. Two threads compiling at once both get an equal pattern; the last one is kept."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        found = self._compiled
        if found is None:
            found = self._compiled = re.compile(self.pattern, self.flags)
        return found

    def search(self, string: str) -> re.Match[str] | None:
        return self.compiled().search(string)

    def finditer(self, string: str) -> Iterator[re.Match[str]]:
        return self.compiled().finditer(string)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyPattern):
            return NotImplemented
        return (self.pattern, self.flags) == (other.pattern, other.flags)

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {self.flags!r})"


Regex = re.Pattern[str] | LazyPattern   # what a rule's patterns may be: compiled now or on first use


def _skip_class(source: str, i: int) -> int:
    """Index just past the character class that starts at ``source[i] == '['``."""
    j = i + 1
    if source[j:j + 1] == "^":
        j += 1
    if source[j:j + 1] == "]":
        j += 1
    while j < len(source) and source[j] != "]":
        j += 2 if source[j] == "\\" else 1
    return j + 1


def literal_runs(source: str) -> list[str] | None:
    """Literal runs every match of ``source`` must contain; ``None`` if a top-level ``|`` exists."""
    runs: list[str] = []
    cur: list[str] = []
    depth = 0
    i = 0

    def flush() -> None:
        if cur:
            runs.append("".join(cur))
            cur.clear()

    while i < len(source):
        c = source[i]
        if c == "\\":
            nxt = source[i + 1:i + 2]
            i += 2
            if nxt and not nxt.isalnum() and depth == 0:
                cur.append(nxt)  # escaped punctuation such as \. or \( is a plain character
            else:
                flush()  # \d, \b, \s ...: not a literal
            continue
        if c == "[":
            flush()
            i = _skip_class(source, i)
            continue
        if c in "*?{":
            if cur:
                cur.pop()  # the preceding character is optional
            flush()
            i = source.find("}", i) + 1 if c == "{" else i + 1
            if i == 0:
                return None
            continue
        if c == "|" and depth == 0:
            return None
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c in _REGEX_META or depth > 0:
            flush()  # group contents may be optional or alternatives: never required
        else:
            cur.append(c)
        i += 1
    flush()
    return runs


@functools.lru_cache(maxsize=2048)
def prefilter(pattern: Regex) -> str | None:
    """A lower-case ASCII substring every match contains, to find candidate lines with ``str.find``.

    Python's ``re`` loses its fast literal search under IGNORECASE (~0.1 s per pattern per 4 MiB);
    ``str.find`` on the lower-cased text is two orders of magnitude faster.
    """
    runs = literal_runs(pattern.pattern)
    if not runs:
        return None
    best = max(runs, key=len)
    return best.lower() if len(best) >= 3 and best.isascii() else None


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:] if end < 0 else text[start:end]


def candidate_lines(text: str, lowered: str, pattern: Regex) -> Iterator[str]:
    """Each line of ``text`` that ``pattern`` matches, once (``lowered`` is ``text.lower()``); a
    ``LazyPattern`` is compiled only if its literal is found."""
    key = prefilter(pattern) if len(lowered) == len(text) else None
    if key is None:  # no usable literal: scan everything
        last_end = -1
        for match in pattern.finditer(text):
            if match.start() <= last_end:
                continue  # one report per line
            line = _line_at(text, match.start())
            last_end = text.find("\n", match.start())
            last_end = len(text) if last_end < 0 else last_end
            yield line
        return
    pos = lowered.find(key)
    while pos >= 0:
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[start:end]
        if pattern.search(line):
            yield line
        pos = lowered.find(key, end)
