"""Bad input is a clean error (exit 2, a message, never a traceback or a hang), output is shown as Packer
printed it, and the wrapper touches only what it created (issue 10, DESIGN.md "CLI", "Where Packer
runs, and what it reads").

A NUL byte or a 200 KiB value cannot travel on any argv (execve refuses NUL and single arguments over
128 KiB), so those values come from hybridcore.toml, where an operator can really put them.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.faults.support import (
    CLI,
    Project,
    Result,
    has_traceback,
    hcl_str,
    null_template,
    runs_json,
)

SIMPLE = '[targets.a]\ntemplate = "t.pkr.hcl"\n'


def simple_project(project: Project, toml: str = SIMPLE) -> Path:
    marker = project.outside / "packer-ran"
    project.toml(toml)
    project.write("t.pkr.hcl", null_template([f"touch {marker}"], variables=(
        'variable "greeting" {\n  type    = string\n  default = "hi"\n}\n')))
    return marker


def clean_error(r: Result) -> None:
    assert r.returncode == 2, r.output[-3000:]
    assert "error" in r.output.lower() and not has_traceback(r.output), r.output[-3000:]


@pytest.mark.parametrize(("toml", "suggestion"), [
    pytest.param(SIMPLE + "\n[buidl]\nretries = 1\n", "build", id="section"),
    pytest.param("[build]\nkill_grase = 5\n\n" + SIMPLE, "kill_grace", id="build-key"),
    pytest.param(SIMPLE + 'onyl = ["null.a"]\n', "only", id="target-key"),
    pytest.param('packr = "/usr/bin/packer"\n' + SIMPLE, "packer", id="top-level-key"),
])
def test_unknown_config_name_refused_with_did_you_mean(project: Project, toml: str, suggestion: str) -> None:
    simple_project(project, toml)
    r = project.run("validate", "a")
    clean_error(r)
    assert "did you mean" in r.stderr and suggestion in r.stderr, r.stderr


def test_nul_byte_in_value_refused(project: Project) -> None:
    simple_project(project, SIMPLE + 'vars = { greeting = "a\\u0000b" }\n')
    clean_error(project.run("validate", "a"))


def test_value_of_200_kib_is_used_whole_or_refused_cleanly(project: Project) -> None:
    """Either the value reaches the build whole (values travel in a var file, argv limits do not apply)
    or it is refused as bad input with a message; never a traceback or a truncated value."""
    big = "x" * (200 * 1024)
    project.toml(SIMPLE + f'vars = {{ greeting = "{big}" }}\n')
    project.write("t.pkr.hcl", null_template(["echo length ${length(var.greeting)}"], variables=(
        'variable "greeting" {\n  type = string\n}\n')))
    checked = project.run("validate", "a")
    if checked.returncode != 0:
        clean_error(checked)
        return
    built = project.run("build", "a")
    assert built.returncode == 0 and f"length {len(big)}" in built.output, built.output[-3000:]


def test_binary_template_refused_fast(project: Project) -> None:
    project.toml(SIMPLE)
    project.write("t.pkr.hcl", bytes(range(256)) * 2048)  # 512 KiB with NULs
    r = project.run("validate", "a", timeout=10)
    clean_error(r)
    assert r.elapsed < 10, f"took {r.elapsed:.1f} s"
    assert not (project.root / ".hybridcore" / "runs").exists() or sum(
        p.stat().st_size for p in (project.root / ".hybridcore").rglob("*") if p.is_file()) < 1 << 20


def test_fifo_template_refused_without_hanging(project: Project) -> None:
    import os

    project.toml(SIMPLE)
    os.mkfifo(project.root / "t.pkr.hcl")
    clean_error(project.run("validate", "a", timeout=5))


@pytest.mark.parametrize("command", ["validate", "build"])
def test_only_matching_no_build_refused(project: Project, command: str) -> None:
    marker = simple_project(project, SIMPLE + 'only = ["null.gloden"]\n')
    r = project.run("validate", "a")
    if command == "build":
        r = project.run("build", "a")
    clean_error(r)
    assert "null.gloden" in r.output
    assert not marker.exists()


def test_only_glob_matching_a_build_accepted(project: Project) -> None:
    simple_project(project, SIMPLE + 'only = ["null.*"]\n')
    r = project.run("validate", "a")
    assert r.returncode == 0, r.output


# ------------------------------------------------------------------ output shown as Packer printed it

MARKUP_TARGET = "m[/x]"
TARGET = "m"
LINK = "[link=http://x]y[/link]"
# printf escapes: an SGR colour, an OSC 8 hyperlink, Rich markup, then two lines that would start with
# "::" (a GitHub workflow command) only if the wrapper invented a line break: a literal backslash-n
# (Packer's own escape for newlines in machine-readable output) and U+2028 (a Unicode line separator).
PRINTS = [
    "printf 'esc=\\033[31mRED\\033[0m osc=\\033]8;;http://evil.example\\007click\\033]8;;\\007 end\\n'",
    f"printf 'markup=[/x] {LINK} [bold]B[/bold]\\n'",
    "printf 'one\\\\n::warning::injected-by-escape\\n'",
    "printf 'two\\342\\200\\250::error::injected-by-separator\\n'",
]


@dataclass
class Shown:
    build: Result
    listings: dict[str, Result]


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shown]:
    project = Project.create(tmp_path_factory.mktemp("markup"))
    try:
        project.toml(f'[targets.{TARGET}]\ntemplate = "t.pkr.hcl"\n')
        (project.root / "out").mkdir()
        # The image id (the file builder's target path) holds Rich markup and an ESC (HCL's \\u001b).
        image = '"${path.root}/out/' + LINK + '\\u001b[31mR.img"'
        project.write("t.pkr.hcl", f"""
source "file" "img" {{
  content = "x"
  target  = {image}
}}
source "null" "n" {{
  communicator = "none"
}}
build {{
  sources = ["source.file.img", "source.null.n"]
  provisioner "shell-local" {{
    only   = ["null.n"]
    inline = [{", ".join(hcl_str(p) for p in PRINTS)}]
  }}
}}
""")
        checked = project.run("validate", TARGET)
        assert checked.returncode == 0, checked.output
        built = project.run("build", TARGET)
        listings = {"artifacts": project.run("artifacts")}
        yield Shown(built, listings)
    finally:
        project.close()


def test_escapes_in_packer_output_are_not_passed_raw(shown: Shown) -> None:
    out = shown.build.output
    assert shown.build.returncode == 0, out[-3000:]
    assert "RED" in out and "click" in out
    assert "\x1b" not in out and "\x07" not in out


def test_markup_in_packer_output_shown_literally(shown: Shown) -> None:
    out = shown.build.output
    assert shown.build.returncode == 0, out[-3000:]
    assert f"markup=[/x] {LINK} [bold]B[/bold]" in out


def test_workflow_commands_appear_only_where_packer_printed_them(shown: Shown) -> None:
    out = shown.build.output
    assert "injected-by-escape" in out and "injected-by-separator" in out
    invented = [line for line in out.split("\n") if line.lstrip().startswith("::")]
    assert invented == []


def test_markup_target_name_refused_or_listed_literally(project: Project) -> None:
    """A target named like Rich markup is either refused as bad input or shown as written, never parsed."""
    project.toml(f'[targets.{json.dumps(MARKUP_TARGET)}]\ntemplate = "t.pkr.hcl"\n')
    project.write("t.pkr.hcl", null_template(["echo hi"]))
    checked = project.run("validate", MARKUP_TARGET)
    if checked.returncode != 0:
        clean_error(checked)
        assert MARKUP_TARGET in checked.output
        return
    for args in (("runs",), ("drift", MARKUP_TARGET)):
        r = project.run(*args)
        assert r.returncode == 0 and not has_traceback(r.output), r.output[-3000:]
        assert MARKUP_TARGET in r.output


def test_markup_and_escape_in_image_id_listed_literally(shown: Shown) -> None:
    r = shown.listings["artifacts"]
    assert r.returncode == 0 and not has_traceback(r.output), r.output[-3000:]
    assert LINK in r.output and "\x1b" not in r.output


def test_markup_in_changed_file_name_shown_literally_by_drift(project: Project) -> None:
    script = project.write("scripts/[/x].sh", "echo v1\n")
    project.toml(SIMPLE + 'provisioners = ["scripts/[/x].sh"]\n')
    project.write("t.pkr.hcl", null_template(["echo hi"]))
    assert project.run("validate", "a").returncode == 0
    script.write_text("echo v2\n")
    r = project.run("drift", "a")
    assert r.returncode == 4 and not has_traceback(r.output), r.output
    assert "[/x].sh" in r.output


def test_markup_in_cache_url_listed_literally(project: Project) -> None:
    """A shared cache is written by other runners too: what its index says is data, not markup."""
    simple_project(project)
    cache = project.outside / "cache"
    cache.mkdir()
    (cache / "entry.iso").write_bytes(b"x")
    url = f"http://mirror.example/[/x]/{LINK}.iso"
    (cache / "index.json").write_text(json.dumps({"entry.iso": {"url": url, "checksum": "sha256:" + "0" * 64}}))
    r = project.run("cache", "ls", "--cache-dir", str(cache))
    assert r.returncode == 0 and not has_traceback(r.output), r.output[-3000:]
    assert url in r.output


# ------------------------------------------------------------------------- the wrapper's own folders


def test_similar_target_names_get_distinct_run_folders(project: Project) -> None:
    names = ["a", "a_", "a."]
    project.toml("".join(f'[targets.{json.dumps(n)}]\ntemplate = "t.pkr.hcl"\n\n' for n in names))
    project.write("t.pkr.hcl", null_template(["echo hi"]))
    assert project.run("validate", *names).returncode == 0
    r = project.run("build", *names, "--json")
    assert r.returncode == 0, r.output[-3000:]
    result = json.loads(r.stdout)
    manifests = [t["manifest_path"] for t in result["targets"]]
    assert len(set(manifests)) == 3 and all(Path(m).is_file() for m in manifests), manifests
    assert len(result["artifacts"]) == 3
    run_dirs = {row["run_dir"] for row in runs_json(project) if row["kind"] == "build"}
    assert len(run_dirs) == 3, run_dirs


@pytest.mark.parametrize("folder", [
    ".hybridcore",
    "artifacts",
    ".hybridcore/runs",
    ".hybridcore/logs",
])
def test_symlinked_state_folder_refused(project: Project, folder: str) -> None:
    simple_project(project)
    elsewhere = project.outside / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    if folder != ".hybridcore":
        assert project.run("validate", "a").returncode == 0
    link = project.root / folder
    if link.exists():
        import shutil

        shutil.rmtree(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere)
    r = project.run("build" if folder == "artifacts" else "validate", "a")
    mode = stat.S_IMODE(elsewhere.stat().st_mode)
    problems = [f"exit {r.returncode}"] if r.returncode != 2 else []
    if mode != 0o755:
        problems.append(f"the link target was chmodded to {oct(mode)}")
    if written := sorted(p.name for p in elsewhere.iterdir()):
        problems.append(f"written through the link: {written}")
    assert problems == [], "; ".join(problems) + "\n" + r.output[-2000:]
    clean_error(r)


VICTIM = "precious: not the wrapper's to write\n"


@pytest.mark.parametrize("planted", [
    "packer-version",
    "cache-index",
])
def test_temp_files_not_opened_through_planted_symlinks(project: Project, planted: str) -> None:
    """The wrapper's pid is known in advance: a shell plants the links under its own pid, then execs the CLI."""
    simple_project(project)
    victim = project.outside / "victim.txt"
    victim.write_text(VICTIM)
    if planted == "packer-version":
        folder = project.root / ".hybridcore" / "parsed"
        name, args = ".packer-version.json.$$.tmp", ["validate", "a"]
    else:
        folder = project.outside / "cache"
        # An entry whose recorded checksum is wrong: `cache verify` quarantines it and rewrites the index.
        (folder / "entry.iso").parent.mkdir(parents=True)
        (folder / "entry.iso").write_bytes(b"not what was recorded")
        (folder / "index.json").write_text(json.dumps({"entry.iso": {"checksum": "sha256:" + "0" * 64}}))
        name, args = ".index.json.$$.tmp", ["cache", "verify", "--cache-dir", str(folder)]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    plant = f'ln -s "$1" "$2/{name}" && shift 2 && exec "$@"'
    r = project.run(argv=["/bin/sh", "-c", plant, "plant", str(victim), str(folder), str(CLI), *args])
    assert not has_traceback(r.output), r.output[-3000:]
    assert victim.read_text() == VICTIM, "a file outside the wrapper's reach was overwritten"
    if planted == "cache-index":
        assert r.returncode == 1 and "mismatch" in r.output, r.output  # the verify really ran
