"""Parser for Packer's ``-machine-readable`` output.

A line is ``timestamp,target,type,data...``. Inside data Packer writes ``,`` as ``%!(PACKER_COMMA)``
and a newline as the two characters ``\\n``. Artifacts arrive as a run of lines
``<build>,artifact,<i>,builder-id|id|string|files-count|file,<j>,<path>|end``; the collector assembles
them as they stream past so memory never holds more than the current artifact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# How Packer writes "," inside machine-readable data (the one definition; redaction needs it too).
PACKER_COMMA = "%!(PACKER_COMMA)"


def _is_int(s: str) -> bool:
    # str.isdigit() accepts "²", which int() rejects.
    return s.isascii() and s.isdigit()


@dataclass(frozen=True, slots=True)
class MachineLine:
    """One ``-machine-readable`` line: timestamp, target, type and data fields."""

    timestamp: int
    target: str
    type: str
    data: tuple[str, ...]


def unescape(value: str) -> str:
    return value.replace(PACKER_COMMA, ",").replace("\\n", "\n").replace("\\r", "\r")


def parse_line(line: str) -> MachineLine | None:
    """Parse one line; ``None`` for anything that is not machine-readable (plugin noise, blank)."""
    parts = line.rstrip("\r\n").split(",")
    if len(parts) < 3 or not _is_int(parts[0]):
        return None
    # Most lines have nothing escaped: skip unescaping each field (this runs on every streamed line).
    if parts[2] == "artifact":
        # Packer does not escape backslashes, so "\n" is a newline or a backslash before an n. In
        # an artifact's id and file paths a backslash is far likelier (out\new\report.img) than a
        # line break: kept as printed (only commas unescaped); ArtifactCollector unescapes the
        # human "string" field, which is multi-line text (Azure's).
        if "%!(" in line:
            return MachineLine(int(parts[0]), parts[1], parts[2], tuple(p.replace(PACKER_COMMA, ",")
                                                                          for p in parts[3:]))
        return MachineLine(int(parts[0]), parts[1], parts[2], tuple(parts[3:]))
    if "%!(" in line or "\\" in line:
        return MachineLine(int(parts[0]), parts[1], parts[2], tuple(unescape(p) for p in parts[3:]))
    return MachineLine(int(parts[0]), parts[1], parts[2], tuple(parts[3:]))


def ui_text(ml: MachineLine) -> str | None:
    """The human text of a ``ui`` line (say/message/error), else ``None``."""
    if ml.type == "ui" and len(ml.data) >= 2:
        return ",".join(ml.data[1:])
    return None


@dataclass(frozen=True, slots=True)
class RawArtifact:
    """One artifact exactly as Packer announced it."""

    build_name: str
    index: int
    builder_id: str
    id: str
    string: str
    files: tuple[str, ...]
    timestamp: int


@dataclass
class _Partial:
    """An artifact whose announcement lines are still arriving."""

    timestamp: int
    builder_id: str = ""
    id: str = ""
    string: str = ""
    files: dict[int, str] = field(default_factory=dict)


class ArtifactCollector:
    """Feed it every ``MachineLine``; it keeps the completed artifacts in arrival order."""

    def __init__(self) -> None:
        self._partial: dict[tuple[str, int], _Partial] = {}
        self.artifacts: list[RawArtifact] = []

    def feed(self, ml: MachineLine) -> RawArtifact | None:
        if ml.type != "artifact" or len(ml.data) < 2 or not _is_int(ml.data[0]):
            return None
        key = (ml.target, int(ml.data[0]))
        part = self._partial.setdefault(key, _Partial(ml.timestamp))
        kind, rest = ml.data[1], ml.data[2:]
        if kind == "builder-id" and rest:
            part.builder_id = rest[0]
        elif kind == "id" and rest:
            part.id = ",".join(rest)
        elif kind == "string" and rest:
            part.string = ",".join(rest).replace("\\n", "\n").replace("\\r", "\r")
        elif kind == "file" and len(rest) >= 2 and _is_int(rest[0]):
            part.files[int(rest[0])] = ",".join(rest[1:])
        elif kind == "end":
            del self._partial[key]
            art = RawArtifact(
                build_name=ml.target,
                index=key[1],
                builder_id=part.builder_id,
                id=part.id,
                string=part.string,
                files=tuple(part.files[i] for i in sorted(part.files)),
                timestamp=part.timestamp,
            )
            self.artifacts.append(art)
            return art
        return None
