"""Real-world template projects, run the way their own projects run them (issue 11).

Each folder under ``projects/`` mirrors the layout of a public Packer project (see README.md) and
says in its ``case.toml`` how a person runs bare Packer there and which files the build reads. For
every target of every project:

* ``test_bare_validate``: bare ``packer validate`` from the project's own working folder passes, so
  the corpus itself is valid;
* ``test_wrapper_validate``: ``hybridcore-packer validate TARGET`` agrees with it;
* ``test_drift``: after validate, editing any file the build reads (or adding one to a folder or a
  glob the build reads) makes ``hybridcore-packer drift TARGET --json`` report that file;
* ``test_build``: offline-buildable targets (null/file builders) build with the wrapper;
* ``test_observed_inputs_are_hashed``: every project file bare Packer opens or stats while it validates
  (and, for offline-buildable targets, builds) is a key of the wrapper's fingerprint: what Packer
  actually reads, seen with ``strace`` (DESIGN.md), is ground truth for the resolver.

Checks the current wrapper fails are listed in ``known_failures.toml``, each with the bullet of
issue 11 (or the DESIGN.md line) it stands for, and run as strict xfails: when the fix lands they
pass, the run fails, and the entry must go.

The work per target (copy, bare validate, wrapper validate, drift before / with every edit at once /
after undoing them, build) is done once per session and shared by the xdist workers through files
under the session's temp folder: each worker takes the targets no one has claimed yet, then waits
for the others' results.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock, Timeout

HERE = Path(__file__).resolve().parent
PROJECTS = HERE / "projects"
CLI = [sys.executable, "-m", "hybridcore.packer.cli"]
# Generous: a loaded 2-core machine runs other helpers' builds at the same time.
STEP_TIMEOUT = 300
EDIT_MARK = b"# edited by tests/realworld\n"
# A stray run in the source tree (state, outputs) must not leak into the copies the checks use.
_LOCAL_STATE = shutil.ignore_patterns(".hybridcore", "artifacts", "output")
# The path argument of the calls strace logs (-e trace=openat,newfstatat,statx,stat,execve).
TRACED_CALL = re.compile(r'^\d+\s+(?:openat|newfstatat|statx|stat|execve)\((?:AT_FDCWD, |\d+, )?"([^"]+)"')
ADDED_TEXT = b"# added by tests/realworld\n"


@dataclass(frozen=True)
class Case:
    project: str
    target: str
    cwd: str
    argv: tuple[str, ...]
    reads: tuple[str, ...]
    creates: tuple[str, ...]
    builds_offline: bool
    build_expect: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.project}/{self.target}"


def _load_cases() -> list[Case]:
    cases: list[Case] = []
    for project in sorted(p for p in PROJECTS.iterdir() if p.is_dir()):
        spec = tomllib.loads((project / "case.toml").read_text())
        for t in spec["targets"]:
            cases.append(
                Case(
                    project=project.name,
                    target=t["name"],
                    cwd=t["cwd"],
                    argv=tuple(t["argv"]),
                    reads=tuple(t["reads"]),
                    creates=tuple(t.get("creates", ())),
                    builds_offline=bool(t["builds_offline"]),
                    build_expect=dict(t.get("build_expect", {})),
                )
            )
    return cases


CASES = _load_cases()
KNOWN = tomllib.loads((HERE / "known_failures.toml").read_text())
BULLETS: Mapping[str, Mapping[str, str]] = KNOWN["bullets"]


def _marks(check: str, key: str) -> list[pytest.MarkDecorator]:
    names = KNOWN.get(check, {}).get(key)
    if not names:
        return []
    reason = "; ".join(BULLETS[n]["reason"] for n in names)
    return [pytest.mark.xfail(strict=True, reason=reason)]


def _params(check: str) -> list[Any]:
    return [pytest.param(c, id=c.id, marks=_marks(check, c.id)) for c in CASES]


def _drift_params() -> list[Any]:
    out: list[Any] = []
    for c in CASES:
        for rel in c.reads:
            key = f"{c.id}:{rel}"
            out.append(pytest.param(c, rel, id=key, marks=_marks("drift", key)))
        for rel in c.creates:
            key = f"{c.id}:+{rel}"
            out.append(pytest.param(c, "+" + rel, id=key, marks=_marks("drift", key)))
    return out


def _build_params() -> list[Any]:
    return [pytest.param(c, id=c.id, marks=_marks("build", c.id)) for c in CASES if c.builds_offline]


# --------------------------------------------------------------------------------------------------
# running things


def _env() -> dict[str, str]:
    """The caller's environment minus anything that would steer Packer or the wrapper elsewhere."""
    dropped = ("HYBRIDCORE_", "PKR_VAR_", "PACKER_", "ARM_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["HYBRIDCORE_ENV"] = "ci"
    env["CHECKPOINT_DISABLE"] = "1"  # no call home from Packer
    return env


def _run(argv: list[str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=STEP_TIMEOUT)
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}


def _wrapper(root: Path, *args: str) -> dict[str, Any]:
    return _run([*CLI, *args], root)


def _json_of(result: Mapping[str, Any]) -> Any:
    try:
        return json.loads(result["stdout"])
    except ValueError:
        return None


def _edited(rel: str, data: bytes) -> bytes:
    """A change a person could make without breaking the file's syntax."""
    if rel.endswith(".json"):
        i = data.index(b"{") + 1
        return data[:i] + b"\n" + data[i:]
    if rel.endswith(".xml"):
        return data + b"<!-- edited by tests/realworld -->\n"
    return data + b"\n" + EDIT_MARK


def _drift_entries(result: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """What `drift --json` said: exit code, clean or not, and the file keys it reported (relative)."""
    doc = _json_of(result)
    targets = doc if isinstance(doc, list) else (doc or {}).get("targets", [])
    reported: set[str] = set()
    clean = bool(targets)
    for t in targets:
        diff = t.get("diff") or {}
        clean = clean and bool(t.get("clean", diff.get("clean")))
        for name in ("added", "changed", "removed", "missing"):
            for key in diff.get(name, []):
                reported.add(_relative(key, root))
    return {
        "rc": result["rc"],
        "clean": clean,
        "reported": sorted(reported),
        "text": (result["stdout"] + result["stderr"])[-1500:],
    }


def _relative(key: str, root: Path) -> str:
    """A fingerprint key as a path relative to the project (keys outside it stay absolute)."""
    if os.path.isabs(key):
        try:
            return Path(key).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return key
    return Path(os.path.normpath(key)).as_posix()


def _artifacts(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    doc = _json_of(result)
    if not isinstance(doc, dict):
        return []
    keep = ("builder_type", "build_name", "platform", "image_ids", "builder_id")
    return [{k: a.get(k) for k in keep} for a in doc.get("artifacts", [])]


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _observed(argv: list[str], root: Path, cwd: Path, trace: Path) -> tuple[dict[str, Any], list[str]]:
    """Run bare Packer under strace; the project files it opened for reading or stat()ed by name.

    Left out: lstat()s (Packer lists folders and globs with them: a listing is not a read), files it
    opened for writing, and files that did not exist before it ran (its own outputs, read back by
    post-processors)."""
    before = _files(root)
    result = _run(["strace", "-f", "--seccomp-bpf", "-e", "trace=openat,newfstatat,statx,stat,execve",
                   "-o", str(trace), *argv], cwd)
    seen: set[str] = set()
    for line in trace.read_text(errors="replace").splitlines():
        m = TRACED_CALL.match(line)
        if m is None or "ENOENT" in line or "AT_SYMLINK_NOFOLLOW" in line:
            continue
        if line.split("(", 1)[0].endswith("openat") and any(f in line for f in ("O_WRONLY", "O_RDWR", "O_CREAT")):
            continue
        path = Path(os.path.normpath(cwd / m.group(1)))
        if path.is_relative_to(root) and path.is_file():
            seen.add(path.relative_to(root).as_posix())
    return result, sorted(seen & before)


def _hashed(case: Case, root: Path) -> list[str]:
    """The file keys of the wrapper's fingerprint for the target, computed in this process."""
    from hybridcore.packer import binary, driftcheck
    from hybridcore.packer.config import load_project
    from hybridcore.packer.plan import plan_target

    project = load_project(root)
    packer = binary.discover(None, None)
    plan = plan_target("validate", project, project.targets[case.target], packer, base_env=_env())
    (fingerprint,) = driftcheck.fingerprints_of(project, packer, [plan], "ci")
    return sorted(fingerprint.files)


def run_case(case: Case, work: Path) -> dict[str, Any]:
    """Everything the tests assert on for one target, computed in a private copy of its project."""
    root = work / case.project
    shutil.copytree(PROJECTS / case.project, root, symlinks=True, ignore=_LOCAL_STATE)
    out: dict[str, Any] = {}
    bare, observed = _observed(["packer", "validate", *case.argv], root, root / case.cwd, work / "validate.trace")
    out["bare"] = {"rc": bare["rc"], "text": (bare["stdout"] + bare["stderr"])[-1500:]}
    if case.builds_offline:  # in a copy of its own: the wrapper's build must not meet bare Packer's output
        bare_root = work / "bare-build" / case.project
        shutil.copytree(PROJECTS / case.project, bare_root, symlinks=True, ignore=_LOCAL_STATE)
        built, also = _observed(["packer", "build", *case.argv], bare_root, bare_root / case.cwd,
                                work / "build.trace")
        assert built["rc"] == 0, built["stdout"] + built["stderr"]
        observed = sorted(set(observed) | set(also))
    out["observed"] = observed
    wrapped = _wrapper(root, "validate", case.target, "--json")
    out["wrapper"] = {"rc": wrapped["rc"], "text": (wrapped["stdout"] + wrapped["stderr"])[-3000:]}
    out["hashed"] = _hashed(case, root)
    out["baseline"] = _drift_entries(_wrapper(root, "drift", case.target, "--json"), root)
    # All edits at once, one drift: the wrapper hashes each file on its own, so one run tells for
    # every file whether its change is caught (and costs one wrapper start instead of dozens).
    originals = {rel: (root / rel).read_bytes() for rel in case.reads}
    created: list[Path] = []
    for rel, data in originals.items():
        (root / rel).write_bytes(_edited(rel, data))
    for rel in case.creates:
        path = root / rel
        created.extend(p for p in reversed(path.parents) if not p.exists())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(ADDED_TEXT)
        created.append(path)
    try:
        out["edited"] = _drift_entries(_wrapper(root, "drift", case.target, "--json"), root)
    finally:
        for rel, data in originals.items():
            (root / rel).write_bytes(data)
        for path in reversed(created):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
    # Back to what validate trusted: a wrapper that reported everything as changed fails here.
    out["restored"] = _drift_entries(_wrapper(root, "drift", case.target, "--json"), root)
    if case.builds_offline:
        built = _wrapper(root, "build", case.target, "--json")
        out["build"] = {
            "rc": built["rc"],
            "artifacts": _artifacts(built),
            "text": (built["stdout"] + built["stderr"])[-3000:],
        }
    return out


# --------------------------------------------------------------------------------------------------
# sharing the work between xdist workers


def _slug(case: Case) -> str:
    return f"{case.project}--{case.target}"


class Results:
    """Per-target results, each computed once per session by whichever worker claims it first."""

    def __init__(self, shared: Path, wanted: list[Case]) -> None:
        self.shared = shared
        self.wanted = wanted
        self.done: dict[str, dict[str, Any]] = {}

    def _result_file(self, case: Case) -> Path:
        return self.shared / f"{_slug(case)}.json"

    def _compute(self, case: Case) -> None:
        work = self.shared / "work" / _slug(case)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        started = time.monotonic()
        try:
            result = run_case(case, work)
        except Exception as exc:  # the tests of this target report it; the other targets go on
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["seconds"] = round(time.monotonic() - started, 2)
        tmp = self._result_file(case).with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        tmp.replace(self._result_file(case))

    def _take(self, case: Case, *, wait: bool) -> bool:
        lock = FileLock(str(self.shared / f"{_slug(case)}.lock"))
        try:
            lock.acquire(timeout=-1 if wait else 0)
        except Timeout:
            return False
        try:
            # Released by a worker that finished it, or by one that died half way: then it is ours.
            if not self._result_file(case).exists():
                self._compute(case)
        finally:
            lock.release()
        return True

    def _fill(self) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        # Workers walk the list from different ends so they rarely reach for the same target.
        order = self.wanted if int(worker.removeprefix("gw") or 0) % 2 == 0 else self.wanted[::-1]
        for case in order:
            self._take(case, wait=False)
        for case in order:
            self._take(case, wait=True)
            self.done[case.id] = json.loads(self._result_file(case).read_text())

    def __getitem__(self, case: Case) -> dict[str, Any]:
        if not self.done:
            self._fill()
        got = self.done[case.id]
        assert "error" not in got, got["error"]
        return got


def _wanted(items: list[pytest.Item]) -> list[Case]:
    seen: dict[str, Case] = {}
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case = params.get("case")
        if isinstance(case, Case):
            seen.setdefault(case.id, case)
    return list(seen.values())


@pytest.fixture(scope="session")
def results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Results:
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "realworld"
    shared.mkdir(exist_ok=True)
    return Results(shared, _wanted(request.session.items))


# --------------------------------------------------------------------------------------------------
# the checks


@pytest.mark.parametrize("case", _params("bare-validate"))
def test_bare_validate(case: Case, results: Results) -> None:
    bare = results[case]["bare"]
    assert bare["rc"] == 0, f"packer validate {' '.join(case.argv)} (in {case.cwd}):\n{bare['text']}"


@pytest.mark.parametrize("case", _params("wrapper-validate"))
def test_wrapper_validate(case: Case, results: Results) -> None:
    got = results[case]
    assert got["bare"]["rc"] == 0
    assert got["wrapper"]["rc"] == got["bare"]["rc"], (
        f"bare Packer passes, the wrapper says {got['wrapper']['rc']}:\n{got['wrapper']['text']}"
    )


@pytest.mark.parametrize(("case", "rel"), _drift_params())
def test_drift(case: Case, rel: str, results: Results) -> None:
    got = results[case]
    for state in ("baseline", "restored"):
        seen = got[state]
        assert seen["rc"] == 0 and seen["clean"], f"drift {state} is not clean:\n{seen['text']}"
    seen = got["edited"]
    wanted = rel.removeprefix("+")
    assert seen["rc"] == 4 and wanted in seen["reported"], (
        f"{'adding' if rel.startswith('+') else 'editing'} {wanted}: drift exit {seen['rc']}, "
        f"reported {seen['reported']}\n{seen['text']}"
    )


@pytest.mark.parametrize("case", _build_params())
def test_build(case: Case, results: Results) -> None:
    built = results[case]["build"]
    assert built["rc"] == 0, built["text"]
    assert built["artifacts"], f"no artifact records:\n{built['text']}"
    for key, value in case.build_expect.items():
        assert {a[key] for a in built["artifacts"]} == {value}, (key, built["artifacts"])


@pytest.mark.parametrize("case", _params("observed"))
def test_observed_inputs_are_hashed(case: Case, results: Results) -> None:
    got = results[case]
    assert got["observed"], "strace saw Packer read nothing of the project"
    missing = sorted(set(got["observed"]) - set(got["hashed"]))
    assert missing == [], f"Packer read {missing}, the fingerprint does not hash them"


# --------------------------------------------------------------------------------------------------
# the corpus and the ledger stay honest


def test_corpus_shape() -> None:
    projects = sorted(p.name for p in PROJECTS.iterdir() if p.is_dir())
    assert len(projects) >= 12
    for case in CASES:
        root = PROJECTS / case.project
        targets = tomllib.loads((root / "hybridcore.toml").read_text())["targets"]
        assert case.target in targets, case.id
        assert (root / case.cwd).is_dir(), case.id
        for rel in case.reads:
            assert (root / rel).is_file(), f"{case.id}: {rel} is listed as read but does not exist"
        for rel in case.creates:
            assert not (root / rel).exists(), f"{case.id}: {rel} is to be created but exists"
    assert {c.project for c in CASES} == set(projects)


def test_known_failures_name_real_checks() -> None:
    ids = {
        "bare-validate": {c.id for c in CASES},
        "observed": {c.id for c in CASES},
        "wrapper-validate": {c.id for c in CASES},
        "build": {c.id for c in CASES if c.builds_offline},
        "drift": {f"{c.id}:{r}" for c in CASES for r in c.reads} | {f"{c.id}:+{r}" for c in CASES for r in c.creates},
    }
    for name, bullet in BULLETS.items():
        assert set(bullet) == {"reason", "detail"}, f"known_failures.toml: [bullets.{name}]"
    for check, entries in KNOWN.items():
        if check == "bullets":
            continue
        assert check in ids, f"known_failures.toml: unknown check [{check}]"
        for key, names in entries.items():
            assert key in ids[check], f"known_failures.toml: [{check}] {key!r} names no test"
            assert names and all(n in BULLETS for n in names), f"known_failures.toml: [{check}] {key!r}: {names}"
