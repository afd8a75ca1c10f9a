"""Replace every form in which Packer or a provisioner can print a secret with a marker.

A secret reaches the output raw, JSON-escaped (Python's or Go's ``encoding/json``, any mix of
``\\uXXXX`` escapes), quoted Go- or Python-style (``\\xHH``, ``\\UXXXXXXXX``), machine-readable-escaped
(``,`` as Packer's comma token, a newline as the two characters ``\\n``), one of those inside another, or
one line at a time. Rather than compile a pattern for every form, the text is searched in a few
*views*: as is, with the machine-readable escapes decoded, and with every backslash escape decoded
(once and twice). Each view keeps the spans its decoded characters came from, so a hit is redacted in
the text exactly where it was printed. The literal needles are searched with one compiled alternation;
a line with no backslash and no comma token has only the raw view.

Redaction is a fixpoint: the marker is chosen so that no needle can overlap it, so a second pass never
finds anything (idempotent) and the marker never spells a secret (``redacted``, ``<red``...).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from functools import lru_cache, partial
from itertools import count
from typing import Any, ClassVar

from hybridcore.packer.unshown import strip_unshown, unshown, unshown_token

REDACTED = "<redacted>"
MIN_SECRET_LEN = 4       # shorter declared secrets are refused: redacting "e" everywhere wrecks every log
MIN_HEURISTIC_LEN = 8    # values caught only by a secret-looking name
# Identifiers Packer reports in structured form, kept as reported by ``redact_record(keep=...)``.
PACKER_IDENTIFIERS = frozenset({"builder_id", "builder_type", "build_name"})
_MARKERS = (REDACTED, "[redacted]", "<hidden>", "[hidden]", "<***>", "[***]")
_MAX_PASSES = 4
_PROBE, _MAX_PROBES = 8, 12
_OVERLAP_BUDGET = 2_000_000   # characters compared while tabulating overlaps (a few ms)
# What a named escape or the machine-readable comma can stand for; every other character is printed
# raw unless a numeric escape (\\uXXXX, \\xHH, \\UXXXXXXXX) stands for it.
_UNSAFE = re.compile("[" + re.escape("\\\"/',\a\b\f\n\r\t\v") + "]+")
# Backslash escapes of JSON, Go and Python string literals; a \ud800-\udbff\udc00-\udfff pair is one char.
_ESCAPES = (r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[0-9a-fA-F]{4}"
            r"|U(?:000[0-9a-fA-F]|0010)[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[\\\"/'abfnrtv])")
_NAMED = {"\\": "\\", '"': '"', "/": "/", "'": "'", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
          "t": "\t", "v": "\v"}
_GO_HTML = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                          "\u2029": "\\u2029"})


@lru_cache(maxsize=4096)
def _unescape(token: str, comma: str) -> str:
    if token == comma:
        return ","
    kind = token[1]
    if kind == "u" and len(token) == 12:
        hi, lo = int(token[2:6], 16), int(token[8:12], 16)
        return chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
    if kind in "uUx":
        return chr(int(token[2:], 16))
    return _NAMED[kind]


class _View:
    """A decoded copy of a text; where each of its characters came from is worked out only on a hit."""

    __slots__ = ("_comma", "_index", "_parent", "_pattern", "_strip", "text")

    def __init__(self, text: str, parent: _View | None = None, pattern: re.Pattern[str] | None = None,
                 comma: str = "", strip: bool = False) -> None:
        self.text, self._parent, self._pattern, self._comma = text, parent, pattern, comma
        self._strip = strip   # tokens decode to nothing (terminal escapes), not to a character
        self._index: tuple[list[int], list[tuple[int, int, int, int]]] | None = None

    @property
    def is_decoded(self) -> bool:
        return self._parent is not None

    def decoded(self, pattern: re.Pattern[str], comma: str, *, strip: bool = False) -> _View | None:
        """This view with every token of ``pattern`` (one capturing group) decoded (``strip``: removed),
        or ``None``."""
        parts = pattern.split(self.text)
        if len(parts) == 1:
            return None
        parts[1::2] = ["" if strip else _unescape(t, comma) for t in parts[1::2]]
        return _View("".join(parts), self, pattern, comma, strip)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that view characters ``start:end`` were decoded from."""
        view = self
        while view._parent is not None:
            starts, tokens = view._tokens()
            start, end = _back(starts, tokens, start, True), _back(starts, tokens, end - 1, False)
            view = view._parent
        return start, end

    def _tokens(self) -> tuple[list[int], list[tuple[int, int, int, int]]]:
        """Each decoded token as (view start, view end, parent start, parent end), built once."""
        if self._index is None:
            assert self._parent is not None
            assert self._pattern is not None
            tokens: list[tuple[int, int, int, int]] = []
            shift = 0
            for m in self._pattern.finditer(self._parent.text):
                vstart = m.start() - shift
                vend = vstart + (0 if self._strip else len(_unescape(m.group(), self._comma)))
                tokens.append((vstart, vend, m.start(), m.end()))
                shift = m.end() - vend
            self._index = ([t[0] for t in tokens], tokens)
        return self._index


def _back(starts: list[int], tokens: list[tuple[int, int, int, int]], i: int, first: bool) -> int:
    k = bisect_right(starts, i) - 1
    if k < 0:
        return i if first else i + 1
    _, vend, sstart, send = tokens[k]
    if i < vend:
        return sstart if first else send
    pos = send + (i - vend)
    return pos if first else pos + 1


def _go_json(s: str) -> str:
    """Go's ``encoding/json`` (``json.Marshal``, ``jsonencode()``) string body: HTML-safe, raw UTF-8."""
    out = json.dumps(s, ensure_ascii=False)[1:-1].replace("\\b", "\\u0008").replace("\\f", "\\u000c")
    return out.translate(_GO_HTML)


def _probes(needles: list[str]) -> Callable[[str], bool] | None:
    """A quick test that is true for every text holding a needle in any view, unless that text holds
    a numeric escape (``\\u``, ``\\x``, ``\\U``).

    Without one, a character that only a numeric escape can stand for (anything but ``\\ " / ' ,`` and
    the controls of named escapes) comes from the text itself, so each needle's longest run of such
    characters is printed raw. ``None`` when some needle has none (a secret such as ``"//"``)."""
    probes: dict[str, None] = {}
    for needle in needles:
        runs = _UNSAFE.split(needle)
        longest = max(runs, key=len)
        if not longest:
            return None
        probes[longest[:_PROBE]] = None
    if len(probes) > _MAX_PROBES:
        return _alternation(sorted(probes, key=len, reverse=True)).search  # type: ignore[return-value]
    return partial(_contains_any, probes=tuple(probes))


def _contains_any(text: str, probes: tuple[str, ...]) -> bool:
    # A plain loop, measured 1.6x faster than any() over a generator and than one alternation.
    for probe in probes:  # noqa: SIM110
        if probe in text:
            return True
    return False


def _alternation(needles: list[str]) -> re.Pattern[str]:
    # Longest first, so the needle found at a position is the longest one there.
    return re.compile("|".join(map(re.escape, needles)) or "(?!)")


def _overlaps(needles: list[str]) -> dict[str, tuple[int, ...]] | None:
    """For each needle, the offsets at which another needle (or itself) can start inside it and end
    after it; ``None`` when working that out would cost more than ``_OVERLAP_BUDGET`` comparisons."""
    by_first: dict[str, list[str]] = {}
    for b in needles:
        by_first.setdefault(b[0], []).append(b)
    longest = max(map(len, needles), default=0)
    budget = _OVERLAP_BUDGET
    out: dict[str, tuple[int, ...]] = {}
    for a in needles:
        offsets = []
        for k in range(max(1, len(a) - longest + 1), len(a)):
            tail = len(a) - k
            for b in by_first.get(a[k], ()):
                budget -= tail
                if budget < 0:
                    return None
                if len(b) > tail and a.startswith(b[:tail], k):
                    offsets.append(k)
                    break
        if offsets:
            out[a] = tuple(offsets)
    return out


def _clashes(marker: str, needle: str) -> bool:
    """Could ``needle`` be found across or inside ``marker`` once the marker sits in some text?"""
    if needle in marker or marker in needle:
        return True
    return any(marker.endswith(needle[:k]) or marker.startswith(needle[-k:])
               for k in range(1, min(len(marker), len(needle)) + 1))


class BaseRedactor:
    """Redacts a fixed set of secret values in text and in JSON-like records.

    ``secrets`` are values declared secret (redacted when at least ``MIN_SECRET_LEN`` characters long;
    callers refuse shorter ones before they get here); ``heuristic`` are values caught only by a
    secret-looking name (redacted when at least ``MIN_HEURISTIC_LEN`` long). ``unredactable`` counts
    the non-empty declared values too short to redact, never which.
    """

    machine_comma: ClassVar[str] = ""   # Packer's machine-readable comma token; "" = none

    def __init__(self, secrets: Iterable[str] = (), *, heuristic: Iterable[str] = ()) -> None:
        comma = f"|{re.escape(self.machine_comma)}" if self.machine_comma else ""
        self._esc = re.compile(f"({_ESCAPES}{comma})")
        self._mr = re.compile(rf"(\\[nr]{comma})")
        needles: set[str] = set()
        self.unredactable = 0
        for value in secrets:
            found = self._needles(value, MIN_SECRET_LEN) if value else set()
            self.unredactable += bool(value) and not found
            needles |= found
        for value in heuristic:
            needles |= self._needles(value, MIN_HEURISTIC_LEN)
        ordered = sorted(needles, key=lambda n: (-len(n), n))
        self.count = len(ordered)
        self.marker = self._choose_marker(ordered)
        self._pattern = _alternation(ordered)
        self._probes = _probes(ordered)   # rejects a clean line faster than the alternation
        self._offsets = _overlaps(ordered)
        self._min = len(ordered[-1]) if ordered else 0

    def _needles(self, value: str, min_len: int) -> set[str]:
        """The literal strings to look for: the value, its decodings and each of their lines (a
        multi-line secret is printed one line at a time), and the canonical encodings of each."""
        mr = self._mr_escape
        pieces: set[str] = set()
        for form in {value, value.strip(), self._decoded(value, self._esc), self._decoded(value, self._mr)}:
            pieces |= {p for p in (form, *(line.strip() for line in form.splitlines())) if len(p) >= min_len}
        out = set(pieces)
        for p in pieces:
            encoded = {json.dumps(p)[1:-1], json.dumps(p, ensure_ascii=False)[1:-1], _go_json(p),
                       repr(p.encode())[2:-1], mr(p)}
            out |= encoded | {mr(e) for e in encoded}
        return out

    def _mr_escape(self, s: str) -> str:
        comma = self.machine_comma or ","
        return s.replace(",", comma).replace("\r", "\\r").replace("\n", "\\n")

    def _decoded(self, s: str, pattern: re.Pattern[str]) -> str:
        view = _View(s).decoded(pattern, self.machine_comma)
        return s if view is None else view.text

    @staticmethod
    def _choose_marker(needles: Collection[str]) -> str:
        for marker in _MARKERS:
            if not any(_clashes(marker, n) for n in needles):
                return marker
        # Every candidate clashes (a deliberately hostile secret set): use a symbol no needle contains.
        used = set().union(*needles)
        return next(chr(cp) * 3 for cp in count(0x2580) if chr(cp) not in used and not 0xD800 <= cp < 0xE000)

    def _plain(self, text: str) -> bool:
        """No escape of any kind in ``text``: its only view is itself."""
        return ("\\" not in text and not (self.machine_comma and self.machine_comma in text)
                and not unshown(text))

    def _views(self, text: str) -> list[_View]:
        raw = _View(text)
        if self._plain(text):
            return [raw]
        views = [raw]
        if unshown(text) and (shown := raw.decoded(unshown_token(), "", strip=True)) is not None:
            views.append(shown)   # what a terminal shows: escapes and controls gone
        mr = raw.decoded(self._mr, self.machine_comma)
        if mr is not None:
            views.append(mr)
        full = raw.decoded(self._esc, self.machine_comma)
        if full is not None:
            views.append(full)
            # JSON inside JSON (Ansible's registered stdout, Terraform outputs): decode once more.
            twice = full.decoded(self._esc, self.machine_comma)
            if twice is not None:
                views.append(twice)
        return views

    def _hits(self, text: str) -> list[tuple[int, int]]:
        """Every occurrence of a needle in ``text``, including one that starts inside another and
        ends after it (secrets "abcdef" and "defghi" in "abcdefghi"), so the union covers both."""
        hits: list[tuple[int, int]] = []
        if self._offsets is None:
            # No table of overlaps (too costly to build): try every start after each hit's start.
            pos = 0
            while (m := self._pattern.search(text, pos)) is not None:
                hits.append(m.span())
                pos = m.start() + 1
            return hits
        seen: set[int] = set()
        for m in self._pattern.finditer(text):
            hits.append(m.span())
            if m.group() in self._offsets:
                stack = [(m.start(), m.group())]
                while stack:
                    start, needle = stack.pop()
                    end = start + len(needle)
                    for k in self._offsets.get(needle, ()):
                        if start + k not in seen and (m2 := self._pattern.match(text, start + k)) \
                                and m2.end() > end:
                            seen.add(start + k)
                            hits.append(m2.span())
                            stack.append((start + k, m2.group()))
        return hits

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """Every span of ``text`` that holds (part of) a needle in any view, merged and sorted."""
        found: list[tuple[int, int]] = []
        for view in self._views(text):
            hits = self._hits(view.text)
            found += [view.source_span(*h) for h in hits] if view.is_decoded else hits
        found.sort()
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def redact_text(self, text: str) -> str:
        """``text`` with every form of every secret replaced by :attr:`marker`."""
        if not self.count or len(text) < self._min:
            return text
        numeric = "\\" in text and ("\\u" in text or "\\x" in text or "\\U" in text)
        if not numeric and self._probes is not None and not self._probes(text) and (
                not unshown(text) or not self._probes(strip_unshown(text))):
            return text  # fast path: no needle's probe anywhere (nor as a terminal shows it)
        if self._plain(text):
            # Only a raw occurrence is possible, and one pass is final: every occurrence is covered
            # and none can cross the marker.
            return self._replace(text, self._spans(text))
        for _ in range(_MAX_PASSES):
            # Decoding can align differently once a span is replaced: repeat until nothing is found.
            spans = self._spans(text)
            if not spans:
                return text
            text = self._replace(text, spans)
        # Still finding needles after several passes: fail closed rather than print a guess.
        return self.marker if self._spans(text) else text

    __call__ = redact_text

    def safe_cut(self, text: str, at: int) -> int:
        """Where to cut ``text`` at or before ``at`` so that no occurrence of a secret, in any form,
        is split between the two pieces (each piece is redacted alone): ``at`` when none crosses it."""
        if not self.count:
            return at
        for start, end in self._spans(text):   # merged and disjoint: at most one crosses ``at``
            if start < at < end:
                return start
        return at

    def _replace(self, text: str, spans: list[tuple[int, int]]) -> str:
        parts: list[str] = []
        last = 0
        for start, end in spans:
            parts += (text[last:start], self.marker)
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def redact_record(self, obj: Any, keep: Collection[str] = ()) -> Any:
        """A JSON-like structure with every string *value* redacted; keys are never touched, so the
        record keeps its shape. String values under a key in ``keep`` (identifiers Packer reports in
        structured form: ``builder_id``, ``builder_type``, ``build_name``) are kept as reported."""
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, Mapping):
            return {k: v if k in keep and isinstance(v, str) else self.redact_record(v, keep)
                    for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_record(v, keep) for v in obj]
        return obj

    def value(self, obj: Any) -> Any:
        """Older name of :meth:`redact_record` (which no longer redacts keys)."""
        return self.redact_record(obj)
