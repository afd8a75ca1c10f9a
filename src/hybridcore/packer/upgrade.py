"""The Packer upgrade playbook as a command: smoke-build with two Packer binaries and diff the results.

``upgrade_check(A, B, targets)`` copies the project twice into throw-away sandboxes (one per binary,
each with its own state, trust, cache and artifact folder), runs ``fmt -check``, ``validate`` and
``build`` of each smoke target under both, normalises what the builds recorded (manifests and artifact
records) so that only behaviour is left, and diffs A against B. The result is a report for the pull
request that changes the pinned Packer version: ``report.md`` (human, with a sign-off checklist) and
``report.json`` (machine), both in the report folder.

The project itself is never touched: the sandboxes live in the system temp folder, the real
``.hybridcore/state.db``, ``artifacts/`` and cache are never opened, and the only thing written under
the project root is the report folder (by default ``.hybridcore/upgrade/<ULID>/``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hybridcore.errors import ConfigError, HybridcoreError
from hybridcore.logs import now_iso
from hybridcore.packer import binary as binmod
from hybridcore.packer.config import Project, Target, load_project
from hybridcore.packer.files import atomic_write_bytes, private_dir

Step = Literal["fmt", "validate", "build"]
STEPS: tuple[Step, ...] = ("fmt", "validate", "build")

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
_ULID_RE = re.compile(r"(?<![0-9A-Za-z])[0-7][0-9A-HJKMNP-TV-Z]{25}(?![0-9A-Za-z])")

# Never copied into a sandbox: the project's own records and trust (that is the point of the sandbox),
# VCS metadata, and build outputs that would otherwise leak one run's results into the next.
_TOP_LEVEL_EXCLUDES = frozenset({".hybridcore", "artifacts"})
_ANYWHERE_EXCLUDES = frozenset({".git", "packer_cache", "output", "__pycache__", ".venv"})
_ANYWHERE_PATTERNS = ("output-*",)   # Packer's default output_directory is output-<build name>

# Packer releases whose changes touch what the sign-offs protect. Crossing one adds a note to the report.
KNOWN_CHANGES: tuple[tuple[str, str], ...] = (
    ("1.7.0", "plugins begin to leave core: `packer init` and `required_plugins` appear; builder ids of "
              "externalised plugins may change (vSphere: 1.6.6 says `jetbrains.vsphere`, today's plugin "
              "`vmware.vsphere`)"),
    ("1.15.1", "machine-readable output stops printing `sensitive = true` values raw (leaked in 1.6.x "
               "and 1.14.0-1.15.0); hybridcore redacts them regardless, but re-check the redaction tests"),
)


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class BinaryInfo:
    label: Literal["A", "B"]
    path: str
    version: str
    satisfies_pin: bool | None          # None when the project pins no version

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step did under one binary: Packer's result, or the refusal hybridcore raised."""

    step: Step
    status: str                         # CommandResult status, or "error" for a HybridcoreError
    exit_code: int
    category: str | None = None         # the failure classification, or the exception class
    message: str | None = None          # a refusal's message, or the tail of a failing step's output

    @property
    def signature(self) -> str:
        """What must match between A and B. The category is left out on purpose for Packer failures:
        a new release may word the same error differently, which is not a behaviour change."""
        base = f"{self.status} (exit {self.exit_code})"
        return f"{base} {self.category}" if self.status == "error" else base

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "signature": self.signature}


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "clean": self.clean,
            "outcomes": {x.step: {"a": x.to_dict(), "b": y.to_dict()}
                         for x, y in zip(self.a, self.b, strict=True)},
            "outcome_mismatches": list(self.outcome_mismatches),
            "differences": [d.to_dict() for d in self.differences],
            "records": {"a": dict(self.a_records), "b": dict(self.b_records)},
        }


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
            steps = " · ".join(f"{x.step} {_short(x)}/{_short(y)}" for x, y in zip(t.a, t.b, strict=True))
            lines.append(f"{t.target}: {'same' if t.clean else 'DIFFERS'} ({steps}; A/B)")
            for step in t.outcome_mismatches:
                x, y = _step(t.a, step), _step(t.b, step)
                lines.append(f"  {step} outcome: {x.signature} -> {y.signature}")
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


def _short(o: StepOutcome) -> str:
    return o.status if o.status != "error" else f"error:{o.category}"


def _step(outcomes: Sequence[StepOutcome], step: Step) -> StepOutcome:
    return next(o for o in outcomes if o.step == step)


# ---------------------------------------------------------------------------------------------- API


def upgrade_check(from_bin: str, to_bin: str, targets: Sequence[str] | None, *,
                  project: Project | str | Path | None = None, report_dir: Path | None = None,
                  keep_sandboxes: bool = False) -> UpgradeReport:
    """Smoke-build ``targets`` (default: ``smoke = true`` ones, else all) with Packer ``from_bin`` (A)
    and ``to_bin`` (B), each in its own sandbox copy of the project, and write the report.

    Bad input (unknown target, Packer not found, a template outside the project) raises before any
    Packer runs; a step that hybridcore refuses (e.g. drift) is recorded as that step's outcome.
    """
    from hybridcore.ids import new_ulid

    proj = project if isinstance(project, Project) else load_project(project)
    chosen = _choose_targets(proj, targets)
    for t in chosen:
        if not _is_under(t.template, proj.root):
            raise ConfigError(f"target {t.name!r}: template {t.template} is outside the project {proj.root}",
                              hint="upgrade-check builds in a copy of the project folder; move the "
                                   "template into it")
    pin = proj.packer_version
    a = _binary("A", from_bin, pin)
    b = _binary("B", to_bin, pin)

    report_id = new_ulid()
    out_dir = (Path(report_dir) if report_dir is not None
               else proj.state_dir / "upgrade" / report_id).resolve()
    excludes = [out_dir]
    if proj.cache_dir is not None:
        excludes.append(proj.cache_dir.resolve())

    work = Path(tempfile.mkdtemp(prefix=f"hybridcore-upgrade-{report_id}-")).resolve()
    try:
        with _isolated_env():
            runs = {info.label: _run_sandbox(proj, chosen, info, work / info.label, excludes)
                    for info in (a, b)}
    finally:
        if not keep_sandboxes:
            shutil.rmtree(work, ignore_errors=True)

    comparisons = tuple(_compare(t.name, runs["A"][t.name], runs["B"][t.name]) for t in chosen)
    report = UpgradeReport(
        id=report_id, created_at=now_iso(), project_root=str(proj.root), pin=pin, a=a, b=b,
        targets=comparisons, signoffs=_signoffs(a, b, pin, comparisons), notes=_notes(a, b),
        report_dir=out_dir, sandboxes=(str(work / "A"), str(work / "B")) if keep_sandboxes else (),
    )
    private_dir(out_dir)
    atomic_write_bytes(report.markdown_path, report.markdown().encode())
    atomic_write_bytes(report.json_path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    return report


def _choose_targets(proj: Project, names: Sequence[str] | None) -> list[Target]:
    if names:
        return proj.resolve(list(names))
    smoke = [t for t in proj.targets.values() if t.smoke]
    return smoke or proj.resolve(None)


def _binary(label: Literal["A", "B"], name: str, pin: str | None) -> BinaryInfo:
    path = binmod.locate(name)
    # The project's pin is deliberately not enforced here (checking a candidate outside the pin is the
    # whole point); whether B satisfies it becomes a sign-off item instead.
    found = binmod.discover(path, None)
    return BinaryInfo(label=label, path=found.path, version=found.version,
                      satisfies_pin=binmod.satisfies(found.version, pin) if pin else None)


@contextlib.contextmanager
def _isolated_env() -> Iterator[None]:
    """Unset what would point a sandbox run at the real project's state (the store reads
    ``HYBRIDCORE_STATE_URL`` from ``os.environ``), and put it back afterwards. Process-wide: do not run
    other hybridcore commands on other threads meanwhile."""
    saved = {n: os.environ.pop(n) for n in ("HYBRIDCORE_STATE_URL",) if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


# ---------------------------------------------------------------------------------------------- sandbox


@dataclass(frozen=True, slots=True)
class _TargetRun:
    outcomes: tuple[StepOutcome, ...]
    records: dict[str, Any]             # normalised manifest / template manifest / artifact records


def make_sandbox(project: Project, targets: Sequence[Target], dest: Path, packer_path: str,
                 excludes: Sequence[Path] = ()) -> Project:
    """Copy the project folder to ``dest`` and return a Project rooted there that uses ``packer_path``,
    keeps its state, trust, cache and artifacts inside ``dest``, and declares exactly ``targets``
    (re-rooted). Nothing in the returned project points back into the real root."""
    old = project.root.resolve()
    shutil.copytree(old, dest, symlinks=True, ignore=_ignore(old, excludes))
    new = dest.resolve()
    rerooted = {t.name: reroot_target(t, old, new) for t in targets}
    config = project.config_path and reroot_path(project.config_path, old, new)
    return dataclasses.replace(project, root=new, config_path=config, packer_binary=packer_path,
                               packer_version=None, cache_dir=None, targets=rerooted)


def _ignore(root: Path, excludes: Sequence[Path]) -> Callable[[str, list[str]], set[str]]:
    import fnmatch

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        skip = {n for n in names if n in _ANYWHERE_EXCLUDES
                or any(fnmatch.fnmatch(n, p) for p in _ANYWHERE_PATTERNS)}
        if here == root:
            skip |= {n for n in names if n in _TOP_LEVEL_EXCLUDES}
        skip |= {n for n in names if (here / n) in excludes}
        return skip

    return ignore


def reroot_path(path: Path, old: Path, new: Path) -> Path:
    """``path`` moved from under ``old`` to under ``new``; paths outside ``old`` are returned as they are."""
    try:
        return new / path.relative_to(old)
    except ValueError:
        return path


def reroot_target(target: Target, old: Path, new: Path) -> Target:
    """Every Path field (and tuple of Paths) of ``target`` under ``old`` mapped under ``new``. Variable
    values that are absolute paths into the project move too: otherwise a sandbox build could write
    into the real project through, say, ``output_directory``."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(target):
        value = getattr(target, f.name)
        if isinstance(value, Path):
            changes[f.name] = reroot_path(value, old, new)
        elif isinstance(value, tuple) and any(isinstance(v, Path) for v in value):
            changes[f.name] = tuple(reroot_path(v, old, new) if isinstance(v, Path) else v for v in value)
    changes["vars"] = {k: _reroot_str(v, old, new) for k, v in target.vars.items()}
    return dataclasses.replace(target, **changes)


def _reroot_str(value: Any, old: Path, new: Path) -> Any:
    if isinstance(value, str) and os.path.isabs(value) and _is_under(Path(value), old):
        return str(reroot_path(Path(value), old, new))
    return value


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _run_sandbox(project: Project, targets: Sequence[Target], info: BinaryInfo, dest: Path,
                 excludes: Sequence[Path]) -> dict[str, _TargetRun]:
    from hybridcore.packer import api

    sandbox = make_sandbox(project, targets, dest, info.path, excludes)
    roots = (sandbox.root, project.root)
    out: dict[str, _TargetRun] = {}
    for name in sandbox.targets:
        outcomes: list[StepOutcome] = []
        records: dict[str, Any] = {}
        for step in STEPS:
            try:
                if step == "fmt":
                    result = api.fmt([name], check=True, project=sandbox)
                elif step == "validate":
                    # Also what makes the build below trusted, inside this sandbox's own state.
                    result = api.validate([name], project=sandbox)
                else:
                    result = api.build([name], project=sandbox)
            except HybridcoreError as exc:
                outcomes.append(StepOutcome(step, "error", exc.exit_code, type(exc).__name__,
                                            _scrub(exc.message, roots)))
                continue
            t = result.targets[0]
            if t.status == "interrupted":
                # Ctrl-C / SIGTERM: the wrapper stopped Packer and recorded it; stop the whole check
                # (the sandboxes are removed and the environment restored on the way out).
                raise KeyboardInterrupt
            detail = None if t.status == "ok" else _scrub(_tail(t.stdout + "\n" + t.stderr), roots)
            outcomes.append(StepOutcome(step, t.status, t.exit_code, t.classification.category, detail))
            if step == "build":
                records = collect_records(t.manifest_path, t.template_manifest_path,
                                          [a.to_dict() for a in t.artifacts], roots)
        out[name] = _TargetRun(tuple(outcomes), records)
    return out


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _scrub(text: str, roots: Sequence[Path]) -> str:
    out = text
    for root in roots:
        out = out.replace(str(root), ROOT_TOKEN)
    return out


# ---------------------------------------------------------------------------------------------- normalise


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
    # Longest first, so a root nested in another (a sandbox inside the project) is replaced whole.
    ordered = sorted({str(r) for r in roots if str(r) not in ("", "/")}, key=len, reverse=True)

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items() if k not in VOLATILE_KEYS}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, str):
            for root in ordered:
                value = value.replace(root, ROOT_TOKEN)
            value = _UUID_RE.sub("<uuid>", value)
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


def _compare(name: str, a: _TargetRun, b: _TargetRun) -> TargetComparison:
    return TargetComparison(target=name, a=a.outcomes, b=b.outcomes,
                            differences=tuple(diff(a.records, b.records)),
                            a_records=a.records, b_records=b.records)


# ---------------------------------------------------------------------------------------------- report


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".")[:3])


def crossed_changes(a: str, b: str) -> list[tuple[str, str]]:
    """Known releases between ``a`` and ``b`` (either direction: a downgrade crosses them too)."""
    low, high = sorted((_vt(a), _vt(b)))
    return [(v, what) for v, what in KNOWN_CHANGES if low < _vt(v) <= high]


def _signoffs(a: BinaryInfo, b: BinaryInfo, pin: str | None,
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


def _notes(a: BinaryInfo, b: BinaryInfo) -> tuple[str, ...]:
    notes = [f"Packer {v}: {what}" for v, what in crossed_changes(a.version, b.version)]
    if a.path == b.path:
        notes.append("A and B are the same binary: this run only shows how reproducible the smoke builds are")
    return tuple(notes)


_MD_MAX_DIFFS = 200   # per target; a pull request description has a size limit, report.json has all


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(r: UpgradeReport) -> str:
    verdict = ("**B behaves like A**: no outcome or record differs." if r.clean
               else "**B differs from A**: " + ", ".join(t.target for t in r.targets if not t.clean) + ".")
    pin = "(none)" if r.pin is None else f"`{r.pin}`"
    lines = [
        f"# Packer upgrade check: {r.a.version} → {r.b.version}",
        "",
        verdict + f" Exit code {r.exit_code}.",
        "",
        "| | binary | version | satisfies pin |",
        "|---|---|---|---|",
    ]
    for info in (r.a, r.b):
        sat = "n/a" if info.satisfies_pin is None else ("yes" if info.satisfies_pin else "**no**")
        lines.append(f"| {info.label} | `{_cell(info.path)}` | {info.version} | {sat} |")
    lines += ["", f"Pinned version in `hybridcore.toml`: {pin}. Report `{r.id}`, {r.created_at}.", ""]
    lines += ["## Outcomes", "", "| target | step | A | B | same |", "|---|---|---|---|---|"]
    for t in r.targets:
        for x, y in zip(t.a, t.b, strict=True):
            same = "yes" if x.signature == y.signature else "**no**"
            lines.append(f"| {_cell(t.target)} | {x.step} | {_cell(x.signature)} | {_cell(y.signature)} "
                         f"| {same} |")
    lines += ["", "## Differences in manifests and artifact records", ""]
    lines.append("Timestamps, run UUIDs, build/command ids, the Packer version and fingerprints are dropped "
                 "and sandbox paths shown as `<root>` before comparing.")
    lines.append("")
    for t in r.targets:
        lines.append(f"### {t.target}")
        lines.append("")
        if not t.differences:
            lines.append("No differences." if t.a_records or t.b_records else "No records (no build output).")
        else:
            lines.append("```")
            lines.extend(str(d) for d in t.differences[:_MD_MAX_DIFFS])
            if len(t.differences) > _MD_MAX_DIFFS:
                lines.append(f"... {len(t.differences) - _MD_MAX_DIFFS} more (see report.json)")
            lines.append("```")
        details = [(lab, o) for lab, outs in (("A", t.a), ("B", t.b)) for o in outs if o.message]
        for lab, o in details:
            lines += ["", f"<details><summary>{lab} {o.step}: {_cell(o.signature)}</summary>", "", "```",
                      o.message or "", "```", "", "</details>"]
        lines.append("")
    if r.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in r.notes] + [""]
    lines += ["## Sign-off", "", "Tick each box in the pull request before merging.", ""]
    lines += [f"- [ ] **{s.role}**: {s.reason}" for s in r.signoffs]
    lines.append("")
    return "\n".join(lines)
