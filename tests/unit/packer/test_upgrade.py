"""upgrade-check against the fake packer: sandboxes, normalisation, the diff, the report, progress events,
no side effects."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from tests.unit.conftest import ARTIFACT_OUT, FakePacker

from hybridcore.errors import ConfigError, PackerNotFound, TemplateError
from hybridcore.packer import build, validate
from hybridcore.packer import upgrade as up
from hybridcore.packer.config import load_project
from hybridcore.packer.upgrade.compare import Difference, TargetComparison, diff, normalise
from hybridcore.packer.upgrade.outcomes import BinaryInfo, StepOutcome
from hybridcore.packer.upgrade.progress import ProgressEvent, announce, progress_line
from hybridcore.packer.upgrade.report import UpgradeReport, crossed_changes
from hybridcore.packer.upgrade.sandbox import make_sandbox, reroot_target

# A second "Packer": reports 1.7.0 and renames the artifact the fake packer announces.
WRAPPER = """\
#!/usr/bin/env bash
set -o pipefail
if [ "$1" = "version" ]; then echo "Packer v1.7.0"; exit 0; fi
"{real}" "$@" | sed -e 's/,artifact,0,id,File$/,artifact,0,id,File-v170/'
exit "${{PIPESTATUS[0]}}"
"""


@pytest.fixture
def packer_a(fake_packer: FakePacker, tmp_path: Path) -> str:
    fake_packer.script(version="1.6.6", build={"stdout": ARTIFACT_OUT})
    return str(tmp_path / "fakebin" / "packer")


@pytest.fixture
def packer_b(packer_a: str, tmp_path: Path) -> str:
    bindir = tmp_path / "fakebin-b"
    bindir.mkdir()
    path = bindir / "packer"
    path.write_text(WRAPPER.format(real=packer_a))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def packer_failing(packer_a: str, tmp_path: Path) -> str:
    """A "Packer 1.7.1" whose build fails, printing the template's sensitive default."""
    path = tmp_path / "fakebin-c" / "packer"
    path.parent.mkdir()
    path.write_text('#!/bin/sh\n[ "$1" = version ] && { echo "Packer v1.7.1"; exit 0; }\n'
                    '[ "$1" = build ] && { echo "Error: unknown builder near $HC_TEST_PW"; exit 1; }\n'
                    f'exec "{packer_a}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Bytes of everything the check must never touch; None for what does not exist."""
    out: dict[str, bytes | None] = {}
    for rel in (".hybridcore/state.db", "artifacts", ".hybridcore/cache", ".hybridcore/trust"):
        path = root / rel
        if path.is_file():
            out[rel] = path.read_bytes()
        elif path.is_dir():
            for f in sorted(path.rglob("*")):
                out[str(f.relative_to(root))] = f.read_bytes() if f.is_file() else b"<dir>"
            out[rel] = b"<dir>"
        else:
            out[rel] = None
    return out


def test_same_binary_twice_is_clean(packer_a: str, project: Path, fake_packer: FakePacker) -> None:
    report = up.upgrade_check(packer_a, packer_a, None, project=project)
    assert report.exit_code == 0, report.summary()
    assert [t.target for t in report.targets] == ["web", "other"]   # no smoke targets: all of them
    assert report.markdown_path.is_file()
    assert report.json_path.is_file()
    assert report.report_dir.parent == project / ".hybridcore" / "upgrade"
    assert stat.S_IMODE(report.json_path.stat().st_mode) == 0o600
    md = report.markdown_path.read_text()
    assert "1.6.6" in md
    assert "- [ ] **Image platform owner**" in md
    assert "- [ ] **CI owner**" in md
    assert "Security" not in md                 # same version: secret handling cannot change
    data = json.loads(report.json_path.read_text())
    assert data["exit_code"] == 0
    assert data["from"]["version"] == data["to"]["version"] == "1.6.6"
    web = data["targets"][0]
    assert {s: (o["a"]["status"], o["b"]["status"]) for s, o in web["outcomes"].items()} == {
        "fmt": ("ok", "ok"), "validate": ("ok", "ok"), "build": ("ok", "ok")}
    assert web["records"]["a"]["manifest"]["builds"][0]["artifact_id"] == "File"
    assert "behaves like" in report.summary()
    # fmt -check, validate and build ran once per target per binary, each in a sandbox.
    assert len(fake_packer.calls("build")) == 4
    for call in fake_packer.calls():
        if call["argv"][1] != "version":
            assert not call["cwd"].startswith(str(project)), call["cwd"]
            assert "-check" in call["argv"] if call["argv"][1] == "fmt" else True


def test_different_binary_reports_version_and_field(packer_a: str, packer_b: str, project: Path) -> None:
    report = up.upgrade_check(packer_a, packer_b, ["web"], project=project)
    assert report.exit_code == 1
    assert (report.a.version, report.b.version) == ("1.6.6", "1.7.0")
    (web,) = report.targets
    assert not web.outcome_mismatches           # same outcomes, different records
    paths = {d.path: (d.a, d.b) for d in web.differences}
    assert paths["manifest.builds[0].artifact_id"] == ("File", "File-v170")
    assert paths["artifacts[0].artifact_id"] == ("File", "File-v170")
    assert all("packer_version" not in p and "build_id" not in p for p in paths)
    summary = report.summary()
    assert "1.7.0" in summary
    assert "artifact_id" in summary
    assert "DIFFERS" in summary
    md = report.markdown_path.read_text()
    assert "1.6.6 → 1.7.0" in md
    assert '"File" -> "File-v170"' in md
    assert "**Security**" in md
    assert "1.7.0" in md
    assert json.loads(report.json_path.read_text())["targets"][0]["differences"]


def test_outcome_difference_is_named(packer_a: str, packer_failing: str, project: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HC_TEST_PW", "upgrade-canary-S3cr3t-99")  # the template's sensitive default
    report = up.upgrade_check(packer_a, packer_failing, ["web"], project=project)
    assert report.exit_code == 1
    assert report.targets[0].outcome_mismatches == ("build",)
    assert "build outcome: ok (exit 0) -> failed (exit 1)" in report.summary()
    md = report.markdown_path.read_text()
    assert "Error: unknown builder near <redacted>" in md          # Packer's words, secrets redacted
    for path in (report.markdown_path, report.json_path):
        assert "upgrade-canary-S3cr3t-99" not in path.read_text()


def test_real_state_artifacts_cache_and_env_untouched(packer_a: str, packer_b: str, project: Path,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      fake_packer: FakePacker) -> None:
    before_absent = _snapshot(project)
    assert before_absent[".hybridcore/state.db"] is None
    assert before_absent["artifacts"] is None
    up.upgrade_check(packer_a, packer_b, None, project=project)
    assert _snapshot(project) == before_absent   # absent stays absent
    # Now with real state, trust, artifacts and cache present, and a state URL in the environment.
    validate("web")
    build("web")
    (project / ".hybridcore" / "cache").mkdir(exist_ok=True)
    (project / ".hybridcore" / "cache" / "entry.iso").write_bytes(b"iso")
    before = _snapshot(project)
    assert before[".hybridcore/state.db"]
    assert before["artifacts"]
    elsewhere = tmp_path / "elsewhere.db"
    monkeypatch.setenv("HYBRIDCORE_STATE_URL", f"sqlite:///{elsewhere}")
    report = up.upgrade_check(packer_a, packer_b, None, project=project, report_dir=tmp_path / "rep")
    assert _snapshot(project) == before
    assert not elsewhere.exists()                             # the sandbox ignored the state URL ...
    assert os.environ["HYBRIDCORE_STATE_URL"] == f"sqlite:///{elsewhere}"   # ... and it is back
    assert report.report_dir == (tmp_path / "rep").resolve()
    assert report.json_path.is_file()
    builds = fake_packer.calls("build")
    real = [c for c in builds if c["cwd"].startswith(str(project))]
    assert len(builds) == 9
    assert len(real) == 1
    for call in builds:
        if call is not real[0]:
            assert not call["env"]["PACKER_CACHE_DIR"].startswith(str(project))
            assert "HYBRIDCORE_STATE_URL" not in call["env"]


def test_smoke_targets_are_the_default(packer_a: str, project: Path) -> None:
    toml = project / "hybridcore.toml"
    toml.write_text(toml.read_text().replace('[targets.other]\n', '[targets.other]\nsmoke = true\n'))
    report = up.upgrade_check(packer_a, packer_a, None, project=project)
    assert [t.target for t in report.targets] == ["other"]


def test_pin_is_reported_not_enforced(packer_a: str, packer_b: str, project: Path) -> None:
    toml = project / "hybridcore.toml"
    toml.write_text('[packer]\nversion = ">=1.6,<1.7"\n\n' + toml.read_text())
    report = up.upgrade_check(packer_a, packer_b, ["web"], project=project)
    assert report.a.satisfies_pin is True
    assert report.b.satisfies_pin is False
    assert any(s.role == "Update the pin" for s in report.signoffs)
    assert "update the pin" in report.summary()


def test_sandbox_excludes_records_and_outputs(project: Path, tmp_path: Path) -> None:
    for rel in (".hybridcore/state.db", "artifacts/x.json", ".git/HEAD", "templates/web/output-example/disk",
                "templates/web/packer_cache/a.iso"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("x")
    proj = load_project(project)
    sb = make_sandbox(proj, list(proj.targets.values()), tmp_path / "sb", "/bin/true")
    assert sb.root == (tmp_path / "sb").resolve()
    assert sb.packer_binary == "/bin/true"
    assert sb.packer_version is None
    assert sb.cache_dir is None
    for rel in (".hybridcore", "artifacts", ".git", "templates/web/output-example",
                "templates/web/packer_cache"):
        assert not (sb.root / rel).exists(), rel
    web = sb.targets["web"]
    assert web.template == sb.root / "templates" / "web"
    assert web.template.is_dir()
    assert web.var_files == (sb.root / "vars" / "dc1.pkrvars.hcl",)
    assert web.provisioners == (sb.root / "assets" / "harden.sh",)
    assert sb.config_path == sb.root / "hybridcore.toml"


def test_reroot_target_moves_paths_and_path_vars_only() -> None:
    from hybridcore.packer.config import Target

    old, new = Path("/proj"), Path("/sandbox/A")
    t = Target(name="t", template=Path("/proj/tpl"), var_files=(Path("/proj/v.hcl"), Path("/etc/shared.hcl")),
               vars={"out": "/proj/output/x", "other": "/srv/x", "n": 3, "rel": "output"})
    r = reroot_target(t, old, new)
    assert r.template == Path("/sandbox/A/tpl")
    assert r.var_files == (Path("/sandbox/A/v.hcl"), Path("/etc/shared.hcl"))
    assert r.vars == {"out": "/sandbox/A/output/x", "other": "/srv/x", "n": 3, "rel": "output"}


def test_bad_input_raises_before_packer_runs(packer_a: str, project: Path, tmp_path: Path,
                                             fake_packer: FakePacker) -> None:
    with pytest.raises(PackerNotFound):
        up.upgrade_check(packer_a, str(tmp_path / "nope" / "packer"), None, project=project)
    outside = tmp_path / "elsewhere.pkr.hcl"
    outside.write_text("")
    with pytest.raises(ConfigError, match="outside the project"):
        up.upgrade_check(packer_a, packer_a, [str(outside)], project=project)
    assert [c for c in fake_packer.calls() if c["argv"][1] != "version"] == []


# --------------------------------------------------------------------------------------- normaliser


def test_normalise_drops_volatile_fields_and_paths() -> None:
    root = Path("/tmp/hybridcore-upgrade-X/A/proj")
    record = {
        "build_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "artifact_id": "File", "packer_run_uuid": "u",
        "files": [{"name": f"{root}/templates/out.txt", "size": 5}],
        "provenance": {"command_id": "c", "packer_version": "1.6.6", "fingerprint": "blake3:ab",
                       "started_at": "t0", "finished_at": "t1", "env": "dev"},
        "note": f"run {root}/.hybridcore/runs/01J0ABCDEFGHJKMNPQRSTVWXYZ/web vm packer-"
                "5f0c6e2a-1b2c-4d3e-8f9a-0123456789ab",
    }
    out = normalise({"builds": [{**record, "build_time": 1700000000}], "last_run_uuid": "u"}, [root])
    assert out == {"builds": [{
        "artifact_id": "File", "files": [{"name": "<root>/templates/out.txt", "size": 5}],
        "provenance": {"env": "dev"}, "note": "run <root>/.hybridcore/runs/<id>/web vm packer-<uuid>",
    }]}


def test_normalise_keeps_real_differences_and_diff_names_them() -> None:
    a = normalise({"builds": [{"artifact_id": "ami-1", "build_time": 1,
                                  "files": [{"name": "x", "size": 1}]}]})
    b = normalise({"builds": [{"artifact_id": "ami-2", "build_time": 2, "files": []}], "extra": True})
    diffs = diff(a, b)
    assert [str(d) for d in diffs] == [
        'builds[0].artifact_id: "ami-1" -> "ami-2"',
        'builds[0].files[0]: {"name": "x", "size": 1} -> <absent>',
        "extra: <absent> -> true",
    ]
    assert diff(a, a) == []
    assert diff({"n": 1}, {"n": 1.0}) != []    # a type change is a change
    assert diff({"n": None}, {"n": None}) == []


def test_crossed_changes_and_security_signoff() -> None:
    assert [v for v, _ in crossed_changes("1.14.3", "1.15.1")] == ["1.15.1"]
    assert [v for v, _ in crossed_changes("1.15.1", "1.14.3")] == ["1.15.1"]   # downgrades too
    assert crossed_changes("1.15.1", "1.15.2") == []


def test_cli_upgrade_check(packer_a: str, packer_b: str, project: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hybridcore.packer.cli.main import app

    rep = tmp_path / "cli-report"
    res = CliRunner().invoke(app, ["upgrade-check", "--from", packer_a, "--to", packer_b, "web",
                                   "--report-dir", str(rep), "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)  # progress lines go to stderr
    assert data["to"]["version"] == "1.7.0"
    assert (rep / "report.md").is_file()
    res = CliRunner().invoke(app, ["upgrade-check", "--from", packer_a, "--to", packer_a, "web"])
    assert res.exit_code == 0, res.output
    assert "behaves like" in res.output


def test_interrupt_stops_the_check_and_cleans_up(packer_a: str, project: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile
    from types import SimpleNamespace

    from hybridcore.packer import api

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("HYBRIDCORE_STATE_URL", "sqlite:////nonexistent/state.db")
    seen: list[str | None] = []

    def interrupted_build(*args: object, **kwargs: object) -> object:
        seen.append(os.environ.get("HYBRIDCORE_STATE_URL"))
        return SimpleNamespace(targets=[SimpleNamespace(status="interrupted")])

    monkeypatch.setattr(api, "build", interrupted_build)
    events: list[ProgressEvent] = []
    with pytest.raises(KeyboardInterrupt):
        up.upgrade_check(packer_a, packer_a, ["web"], project=project, on_progress=events.append)
    assert seen == [None]                                   # stopped after A's first build
    assert [(e.label, e.step, e.phase, e.status) for e in events[-2:]] == [
        ("A", "build", "started", None), ("A", "build", "finished", "interrupted")]
    assert list(scratch.iterdir()) == []                    # sandboxes removed
    assert os.environ["HYBRIDCORE_STATE_URL"] == "sqlite:////nonexistent/state.db"
    assert not (project / ".hybridcore" / "upgrade").exists()   # no half report


# --------------------------------------------------------------------------------------- progress


def _seq(events: list[ProgressEvent]) -> list[tuple[str, str, str | None, str, str | None]]:
    return [(e.label, e.step, e.target, e.phase, e.status) for e in events]


def _expected(label: str, targets: list[str], statuses: dict[tuple[str, str], str] | None = None,
              ) -> list[tuple[str, str, str | None, str, str | None]]:
    out: list[tuple[str, str, str | None, str, str | None]] = [
        (label, "sandbox", None, "started", None), (label, "sandbox", None, "finished", "ok")]
    for t in targets:
        for step in ("fmt", "validate", "build"):
            status = (statuses or {}).get((t, step), "ok")
            out += [(label, step, t, "started", None), (label, step, t, "finished", status)]
    return out


def test_progress_events_for_two_targets_in_order(packer_a: str, packer_failing: str, project: Path) -> None:
    events: list[ProgressEvent] = []
    report = up.upgrade_check(packer_a, packer_failing, None, project=project, on_progress=events.append)
    failed = {("web", "build"): "failed", ("other", "build"): "failed"}
    assert _seq(events) == _expected("A", ["web", "other"]) + _expected("B", ["web", "other"], failed)
    assert {e.version for e in events if e.label == "A"} == {"1.6.6"}
    assert {e.version for e in events if e.label == "B"} == {"1.7.1"}
    for e in events:
        if e.phase == "started":
            assert e.status is None and e.elapsed is None
        else:
            assert e.elapsed is not None and e.elapsed >= 0
    # What the finished events said is what the report recorded.
    finished = {(e.label, e.target, e.step): e.status for e in events if e.phase == "finished" and e.target}
    for t in report.targets:
        for label, outcomes in (("A", t.a), ("B", t.b)):
            for o in outcomes:
                assert finished[(label, t.target, o.step)] == o.status
    failing = next(e for e in events if (e.label, e.target, e.step, e.phase) == ("B", "web", "build", "finished"))
    assert progress_line(failing).startswith("[B 1.7.1] build web ... failed (")


def test_refused_step_still_emits_finished(packer_a: str, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridcore.packer import api

    def refused(*args: object, **kwargs: object) -> object:
        raise TemplateError("refused for the test")

    monkeypatch.setattr(api, "validate", refused)
    events: list[ProgressEvent] = []
    report = up.upgrade_check(packer_a, packer_a, ["web"], project=project, on_progress=events.append)
    (web,) = report.targets
    build_status = web.outcome("A", "build").status           # untrusted: refused too, but still tried
    statuses = {("web", "validate"): "error", ("web", "build"): build_status}
    assert _seq(events) == _expected("A", ["web"], statuses) + _expected("B", ["web"], statuses)
    assert web.outcome("A", "validate").category == "TemplateError"


def test_announce_reports_a_step_that_raises() -> None:
    events: list[ProgressEvent] = []

    def step_that_fails_late() -> None:
        with announce(events.append, "A", "1.6.6", "fmt", "web") as done:
            done.status = "ok"                               # set, then the body fails after all
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        step_that_fails_late()
    assert _seq(events) == [("A", "fmt", "web", "started", None), ("A", "fmt", "web", "finished", "error")]
    with announce(None, "B", "1.6.6", "sandbox") as done:   # no listener: the body just runs
        done.status = "ok"


def test_progress_line() -> None:
    started = ProgressEvent("B", "1.6.6", "build", "vsphere", "started")
    assert progress_line(started) == "[B 1.6.6] build vsphere ..."
    done = ProgressEvent("B", "1.6.6", "build", "vsphere", "finished", "ok", 42.06)
    assert progress_line(done) == "[B 1.6.6] build vsphere ... ok (42.1 s)"
    sandbox_done = ProgressEvent("A", "1.7.0", "sandbox", None, "finished", "ok", 0.25)
    assert progress_line(sandbox_done) == "[A 1.7.0] sandbox ... ok (0.2 s)"
    odd = ProgressEvent("A", "1.6.6", "fmt", "two\nlines\r\nname", "finished", "error", 1.0)
    assert progress_line(odd) == "[A 1.6.6] fmt two lines name ... error (1.0 s)"
    assert "\n" not in progress_line(odd)


def test_package_keeps_the_public_names() -> None:
    from hybridcore.packer.upgrade import compare, progress, sandbox
    from hybridcore.packer.upgrade import report as report_mod

    assert up.normalise is compare.normalise and up.diff is compare.diff
    assert up.make_sandbox is sandbox.make_sandbox and up.reroot_target is sandbox.reroot_target
    assert up.crossed_changes is report_mod.crossed_changes and up.UpgradeReport is report_mod.UpgradeReport
    assert up.ProgressEvent is progress.ProgressEvent and up.progress_line is progress.progress_line
    assert all(hasattr(up, name) for name in up.__all__)


# --------------------------------------------------------------------------------------- markdown


NASTY_TARGET = "we|b `x` <img src=x> *y*\nnext | row"
NASTY_OUTPUT = "Error: ```\n| a | b |\n</details>\n````\ndone"


def _nasty_report(tmp_path: Path) -> UpgradeReport:
    a = BinaryInfo("A", "/opt/pa|ck`er\n/bin", "1.6.6", None)
    b = BinaryInfo("B", "`/opt/new`", "1.7.0", False)
    ok = tuple(StepOutcome(s, "ok", 0) for s in ("fmt", "validate", "build"))
    bad = (*ok[:2], StepOutcome("build", "failed", 1, "unknown", NASTY_OUTPUT))
    target = TargetComparison(NASTY_TARGET, ok, bad, (Difference("artifacts[0].id", "x```y", "z|w"),),
                              {"artifacts": [{"id": "x```y"}]}, {"artifacts": [{"id": "z|w"}]})
    return UpgradeReport(id="01J0ABCDEFGHJKMNPQRSTVWXYZ", created_at="2024-01-01T00:00:00Z",
                         project_root=str(tmp_path), pin=">=1.6 `x`", a=a, b=b, targets=(target,),
                         signoffs=(), notes=(), report_dir=tmp_path)


def test_markdown_survives_pipes_newlines_and_backticks(tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(_nasty_report(tmp_path).markdown())
    flat_target = NASTY_TARGET.replace("\n", " ")
    inlines = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert not [c for c in inlines if c.type in ("html_inline", "em_open", "link_open", "image")]

    rows: list[list[str]] = []      # each table row as the literal text of its cells
    cells: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.type == "tr_open":
            cells = []
        elif tok.type in ("td_open", "th_open"):
            inline = tokens[i + 1]
            assert all(c.type in ("text", "code_inline", "softbreak", "strong_open", "strong_close")
                       for c in inline.children or []), inline.children   # no raw HTML, links, emphasis
            cells.append("".join(c.content for c in inline.children or []))
        elif tok.type == "tr_close":
            rows.append(cells)
    binaries, outcomes = rows[:3], rows[3:]
    assert [len(r) for r in binaries] == [4, 4, 4]
    assert binaries[1][1] == "/opt/pa|ck`er /bin"               # a code span holding a pipe and a backtick
    assert binaries[2][1] == "`/opt/new`"
    assert [len(r) for r in outcomes] == [5] * 4                # header + fmt, validate, build: nothing split
    assert [r[0] for r in outcomes[1:]] == [flat_target] * 3
    assert outcomes[3][2:] == ["ok (exit 0)", "failed (exit 1)", "no"]

    heading = next(tokens[i + 1] for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h3")
    assert heading.content and "".join(c.content for c in heading.children or []) == flat_target
    fences = [t.content.rstrip("\n") for t in tokens if t.type == "fence"]
    assert fences == ['artifacts[0].id: "x```y" -> "z|w"', NASTY_OUTPUT]   # no block closed early
    pin = next(t for t in tokens if t.type == "inline" and "Pinned version" in t.content)
    assert ">=1.6 `x`" in [c.content for c in pin.children or [] if c.type == "code_inline"]
    summary = next(t for t in tokens if t.type == "html_block" and "<summary>" in t.content)
    assert summary.content.strip() == "<details><summary>B build: failed (exit 1)</summary>"
