"""Normalise what two builds recorded down to behaviour, and diff A against B leaf by leaf."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hybridcore.ids import ULID_PATTERN
from hybridcore.packer.upgrade.outcomes import Label, Step, StepOutcome, TargetRun

# Keys whose values differ on every run (or by construction between two Packer versions) and so say
# nothing about behaviour. The fingerprint hashes the Packer version into the digest, hence it goes too.
VOLATILE_KEYS = frozenset({
    "build_time", "started_at", "finished_at",
    "packer_run_uuid", "last_run_uuid", "run_uuid",
    "build_id", "command_id",
    "packer_version", "fingerprint",
})
ROOT_TOKEN = "<root>"  # noqa: S105 - a placeholder, not a password
_UUID_RE = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
# ULIDs (command and build ids) show up inside run-folder paths.
_ULID_RE = re.compile(f"(?<![0-9A-Za-z]){ULID_PATTERN}(?![0-9A-Za-z])")


@dataclass(frozen=True, slots=True)
class Difference:
    """One leaf that differs between A's and B's normalised records; ``None`` + ``change`` for absence."""

    path: str
    a: Any
    b: Any
    change: Literal["changed", "added", "removed"] = "changed"

    def __str__(self) -> str:
        a = "<absent>" if self.change == "added" else json.dumps(self.a, sort_keys=True)
        b = "<absent>" if self.change == "removed" else json.dumps(self.b, sort_keys=True)
        return f"{self.path}: {a} -> {b}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "a": self.a, "b": self.b, "change": self.change}


@dataclass(frozen=True, slots=True)
class TargetComparison:
    target: str
    a: tuple[StepOutcome, ...]
    b: tuple[StepOutcome, ...]
    differences: tuple[Difference, ...] = ()
    a_records: Mapping[str, Any] = field(default_factory=dict)   # normalised, for the JSON report
    b_records: Mapping[str, Any] = field(default_factory=dict)

    @property
    def outcome_mismatches(self) -> tuple[Step, ...]:
        return tuple(x.step for x, y in zip(self.a, self.b, strict=True) if x.signature != y.signature)

    @property
    def baseline_failures(self) -> tuple[Step, ...]:
        return tuple(x.step for x in self.a if x.status != "ok")

    @property
    def clean(self) -> bool:
        return not self.outcome_mismatches and not self.differences

    def outcome(self, label: Label, step: Step) -> StepOutcome:
        return next(o for o in (self.a if label == "A" else self.b) if o.step == step)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "clean": self.clean,
            "outcomes": {x.step: {"a": x.to_dict(), "b": y.to_dict()}
                         for x, y in zip(self.a, self.b, strict=True)},
            "outcome_mismatches": list(self.outcome_mismatches),
            "differences": [d.to_dict() for d in self.differences],
            "records": {"a": dict(self.a_records), "b": dict(self.b_records)},
        }


def compare_runs(target: str, a: TargetRun, b: TargetRun) -> TargetComparison:
    return TargetComparison(target=target, a=a.outcomes, b=b.outcomes,
                            differences=tuple(diff(a.records, b.records)),
                            a_records=a.records, b_records=b.records)


def replace_roots(text: str, roots: Sequence[Path | str]) -> str:
    """``text`` with every occurrence of one of ``roots`` written as ``<root>``."""
    # Longest first, so a root nested in another (a sandbox inside the project) is replaced whole.
    for root in sorted({str(r) for r in roots if str(r) not in ("", "/")}, key=len, reverse=True):
        text = text.replace(root, ROOT_TOKEN)
    return text


def collect_records(manifest_path: str | None, template_manifest_path: str | None,
                    artifacts: Sequence[Mapping[str, Any]], roots: Sequence[Path]) -> dict[str, Any]:
    """What a build left behind, normalised: hybridcore's manifest, the template's own manifest
    post-processor output (when it has one) and the artifact records, in Packer's order."""
    records: dict[str, Any] = {"manifest": _load(manifest_path), "artifacts": list(artifacts)}
    if template_manifest_path:
        records["template_manifest"] = _load(template_manifest_path)
    normalised = normalise(records, roots)
    assert isinstance(normalised, dict)
    return normalised


def _load(path: str | None) -> Any:
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def normalise(obj: Any, roots: Sequence[Path] = ()) -> Any:
    """Keep what describes behaviour, drop what differs on every run.

    Drops :data:`VOLATILE_KEYS` at any depth, writes every absolute path under one of ``roots`` as
    ``<root>/...``, and replaces UUIDs and ULIDs inside strings (run folders, generated names) by
    ``<uuid>``/``<id>``. Everything else (artifact ids, builder ids, file names and sizes, platforms,
    regions) is kept, so a real difference survives.
    """
    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items() if k not in VOLATILE_KEYS}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, str):
            value = _UUID_RE.sub("<uuid>", replace_roots(value, roots))
            return _ULID_RE.sub("<id>", value)
        return value

    return walk(obj)


def diff(a: Any, b: Any, path: str = "") -> list[Difference]:
    """A structural diff of two JSON values: one :class:`Difference` per leaf that differs."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[Difference] = []
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in b:
                out.append(Difference(sub, a[key], None, "removed"))
            elif key not in a:
                out.append(Difference(sub, None, b[key], "added"))
            else:
                out.extend(diff(a[key], b[key], sub))
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(b):
                out.append(Difference(sub, a[i], None, "removed"))
            elif i >= len(a):
                out.append(Difference(sub, None, b[i], "added"))
            else:
                out.extend(diff(a[i], b[i], sub))
        return out
    if a == b and type(a) is type(b):
        return []
    return [Difference(path or "$", a, b)]
