"""The upgrade-check report: the verdict, the sign-offs it asks for, and its three renderings (the
summary the CLI prints, ``report.md`` for the pull request, ``report.json`` for machines)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridcore.files import atomic_write_bytes, private_dir
from hybridcore.packer.upgrade.compare import TargetComparison
from hybridcore.packer.upgrade.outcomes import BinaryInfo

# Packer releases whose changes touch what the sign-offs protect. Crossing one adds a note to the report.
KNOWN_CHANGES: tuple[tuple[str, str], ...] = (
    ("1.7.0", "plugins begin to leave core: `packer init` and `required_plugins` appear; builder ids of "
              "externalised plugins may change (vSphere: 1.6.6 says `jetbrains.vsphere`, today's plugin "
              "`vmware.vsphere`)"),
    ("1.15.1", "machine-readable output stops printing `sensitive = true` values raw (leaked in 1.6.x "
               "and 1.14.0-1.15.0); hybridcore redacts them regardless, but re-check the redaction tests"),
)
_MD_MAX_DIFFS = 200   # per target; a pull request description has a size limit, report.json has all


@dataclass(frozen=True, slots=True)
class SignOff:
    role: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "reason": self.reason, "checked": False}


@dataclass(frozen=True, slots=True)
class UpgradeReport:
    id: str
    created_at: str
    project_root: str
    pin: str | None
    a: BinaryInfo
    b: BinaryInfo
    targets: tuple[TargetComparison, ...]
    signoffs: tuple[SignOff, ...]
    notes: tuple[str, ...]
    report_dir: Path
    sandboxes: tuple[str, ...] = ()     # kept only with keep_sandboxes=True

    @property
    def markdown_path(self) -> Path:
        return self.report_dir / "report.md"

    @property
    def json_path(self) -> Path:
        return self.report_dir / "report.json"

    @property
    def clean(self) -> bool:
        return all(t.clean for t in self.targets)

    @property
    def exit_code(self) -> int:
        """0 only when every step ended the same way under B as under A and the records match."""
        return 0 if self.clean else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "created_at": self.created_at, "project_root": self.project_root,
            "exit_code": self.exit_code, "clean": self.clean, "pin": self.pin,
            "from": self.a.to_dict(), "to": self.b.to_dict(),
            "targets": [t.to_dict() for t in self.targets],
            "signoffs": [s.to_dict() for s in self.signoffs], "notes": list(self.notes),
            "report": {"markdown": str(self.markdown_path), "json": str(self.json_path)},
            "sandboxes": list(self.sandboxes),
        }

    def summary(self) -> str:
        a, b = self.a, self.b
        lines = [f"upgrade-check: Packer {a.version} ({a.path}) -> {b.version} ({b.path})"]
        for t in self.targets:
            steps = " · ".join(f"{x.step} {x.short}/{y.short}" for x, y in zip(t.a, t.b, strict=True))
            lines.append(f"{t.target}: {'same' if t.clean else 'DIFFERS'} ({steps}; A/B)")
            for step in t.outcome_mismatches:
                lines.append(f"  {step} outcome: {t.outcome('A', step).signature} -> "
                             f"{t.outcome('B', step).signature}")
            for d in t.differences:
                lines.append(f"  {d}")
            if t.baseline_failures:
                lines.append(f"  note: under A (the current Packer) {', '.join(t.baseline_failures)} did not "
                             "succeed, so this target proves less than it should")
        if self.pin is not None and self.b.satisfies_pin is False:
            lines.append(f"pin [packer] version = {self.pin!r} does not allow {b.version}: update the pin")
        differing = [t.target for t in self.targets if not t.clean]
        if differing:
            lines.append(f"result: Packer {self.b.version} differs from {self.a.version} for "
                         f"{', '.join(differing)} (exit 1)")
        else:
            lines.append(f"result: Packer {self.b.version} behaves like {self.a.version} (exit 0)")
        lines.append(f"report: {self.markdown_path}")
        return "\n".join(lines)

    def markdown(self) -> str:
        return _markdown(self)

    def write(self) -> None:
        """``report.md`` and ``report.json`` into :attr:`report_dir` (0700 folder, 0600 files)."""
        private_dir(self.report_dir)
        atomic_write_bytes(self.markdown_path, self.markdown().encode())
        atomic_write_bytes(self.json_path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())


# ---------------------------------------------------------------------------------------------- verdict


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".")[:3])


def crossed_changes(a: str, b: str) -> list[tuple[str, str]]:
    """Known releases between ``a`` and ``b`` (either direction: a downgrade crosses them too)."""
    low, high = sorted((_vt(a), _vt(b)))
    return [(v, what) for v, what in KNOWN_CHANGES if low < _vt(v) <= high]


def signoffs(a: BinaryInfo, b: BinaryInfo, pin: str | None,
             comparisons: Sequence[TargetComparison]) -> tuple[SignOff, ...]:
    out = [SignOff("Image platform owner",
                   "the outcomes and artifact/manifest differences above are expected and acceptable "
                   "for the images we ship")]
    # Any other binary (even a rebuild of the same version) may handle secrets differently; only the
    # very same binary cannot.
    if a.version != b.version or a.path != b.path:
        crossed = crossed_changes(a.version, b.version)
        why = "another Packer may change how secrets, sensitive variables and machine-readable output behave"
        if crossed:
            why += "; this change crosses " + ", ".join(v for v, _ in crossed)
        out.append(SignOff("Security", why + " (re-run the redaction tests; check no secret reaches logs, "
                                             "records or the report)"))
    out.append(SignOff("CI owner", "runners and caches install the new binary; the integration suite and "
                                   "this upgrade-check pass in CI"))
    if pin is not None and b.satisfies_pin is False:
        out.append(SignOff("Update the pin",
                           f"[packer] version = {pin!r} in hybridcore.toml does not allow {b.version}"))
    if any(t.baseline_failures for t in comparisons):
        out.append(SignOff("Baseline", "some steps already fail under the current Packer (A); confirm the "
                                       "comparison still covers what matters"))
    return tuple(out)


def notes(a: BinaryInfo, b: BinaryInfo) -> tuple[str, ...]:
    out = [f"Packer {v}: {what}" for v, what in crossed_changes(a.version, b.version)]
    if a.path == b.path:
        out.append("A and B are the same binary: this run only shows how reproducible the smoke builds are")
    return tuple(out)


# ---------------------------------------------------------------------------------------------- markdown
# Target names, paths, versions and Packer's output come from outside: each is rendered so that it shows
# as written and cannot end a table cell, a code span or a code block early.

_NEWLINES = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")
_BACKTICKS = re.compile(r"`+")


def _flat(text: str) -> str:
    return _NEWLINES.sub(" ", text)


def _text(text: str) -> str:
    """Literal inline text (a table cell, a heading): one line, Markdown punctuation escaped; ``\\|``
    also keeps a GFM table cell from splitting."""
    return _INLINE_SPECIAL.sub(r"\\\1", _flat(text))


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in _BACKTICKS.findall(text)), default=0)


def _code(text: str, *, in_table: bool = True) -> str:
    """A code span that holds ``text`` whatever backticks it contains (CommonMark: a longer fence)."""
    body = _flat(text)
    fence = "`" * (_longest_backticks(body) + 1)
    if body.startswith("`") or body.endswith("`"):
        body = f" {body} "
    if in_table:
        body = body.replace("|", "\\|")     # GFM splits cells before code spans; \| survives as |
    return f"{fence}{body}{fence}"


def _block(text: str) -> list[str]:
    """A fenced code block longer than any backtick run in ``text``, so nothing inside can close it."""
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return [fence, text, fence]


def _markdown(r: UpgradeReport) -> str:
    verdict = ("**B behaves like A**: no outcome or record differs." if r.clean
               else "**B differs from A**: " + ", ".join(_text(t.target) for t in r.targets if not t.clean)
               + ".")
    pin = "(none)" if r.pin is None else _code(r.pin, in_table=False)
    lines = [
        f"# Packer upgrade check: {_text(r.a.version)} → {_text(r.b.version)}",
        "",
        verdict + f" Exit code {r.exit_code}.",
        "",
        "| | binary | version | satisfies pin |",
        "|---|---|---|---|",
    ]
    for info in (r.a, r.b):
        sat = "n/a" if info.satisfies_pin is None else ("yes" if info.satisfies_pin else "**no**")
        lines.append(f"| {info.label} | {_code(info.path)} | {_text(info.version)} | {sat} |")
    lines += ["", f"Pinned version in `hybridcore.toml`: {pin}. Report `{r.id}`, {r.created_at}.", ""]
    lines += ["## Outcomes", "", "| target | step | A | B | same |", "|---|---|---|---|---|"]
    for t in r.targets:
        for x, y in zip(t.a, t.b, strict=True):
            same = "yes" if x.signature == y.signature else "**no**"
            lines.append(f"| {_text(t.target)} | {x.step} | {_text(x.signature)} | {_text(y.signature)} "
                         f"| {same} |")
    lines += ["", "## Differences in manifests and artifact records", ""]
    lines.append("Timestamps, run UUIDs, build/command ids, the Packer version and fingerprints are dropped "
                 "and sandbox paths shown as `<root>` before comparing.")
    lines.append("")
    for t in r.targets:
        lines.append(f"### {_text(t.target)}")
        lines.append("")
        if not t.differences:
            lines.append("No differences." if t.a_records or t.b_records else "No records (no build output).")
        else:
            shown = [str(d) for d in t.differences[:_MD_MAX_DIFFS]]
            if len(t.differences) > _MD_MAX_DIFFS:
                shown.append(f"... {len(t.differences) - _MD_MAX_DIFFS} more (see report.json)")
            lines += _block("\n".join(shown))
        details = [(lab, o) for lab, outs in (("A", t.a), ("B", t.b)) for o in outs if o.message]
        for lab, o in details:
            # An HTML block: its text is HTML, not Markdown, so it is HTML-escaped instead.
            summary = html.escape(_flat(f"{lab} {o.step}: {o.signature}"))
            lines += ["", f"<details><summary>{summary}</summary>", ""]
            lines += _block(o.message or "")
            lines += ["", "</details>"]
        lines.append("")
    if r.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in r.notes] + [""]
    lines += ["## Sign-off", "", "Tick each box in the pull request before merging.", ""]
    lines += [f"- [ ] **{s.role}**: {s.reason}" for s in r.signoffs]
    lines.append("")
    return "\n".join(lines)
