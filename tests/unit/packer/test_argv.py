"""Deterministic argv: property tests over the mapping from a request to Packer's command line."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hybridcore.packer.argv import build_argv, fmt_argvs, validate_argv

paths = st.lists(st.from_regex(r"/[a-z]{1,8}/[a-z]{1,8}\.pkrvars\.hcl", fullmatch=True), max_size=4)
selections = st.lists(st.from_regex(r"[a-z]{1,6}\.[a-z]{1,6}", fullmatch=True), max_size=3)
TEMPLATE = Path("/proj/templates/web")


@given(paths, st.booleans(), selections, selections, st.booleans())
def test_build_argv_is_deterministic_and_ordered(files: list[str], generated: bool, only: list[str],
                                                 except_: list[str], force: bool) -> None:
    var_files = [Path(p) for p in files]
    ours = "$TMPDIR/hybridcore.pkrvars.hcl" if generated else None
    first = build_argv("packer", TEMPLATE, var_files=var_files, generated_var_file=ours, only=only,
                       except_=except_, force=force)
    assert first == build_argv("packer", TEMPLATE, var_files=var_files, generated_var_file=ours, only=only,
                               except_=except_, force=force)
    assert first[:3] == ["packer", "build", "-machine-readable"]
    assert ("-force" in first) == force
    assert first[-1] == str(TEMPLATE)
    # var files keep their order and the generated one comes last, so given values win (as -var did)
    expected = [f"-var-file={p}" for p in var_files] + ([f"-var-file={ours}"] if ours else [])
    assert [a for a in first if a.startswith("-var-file=")] == expected
    assert "-var" not in first  # no value is ever on argv
    assert ("-only=" + ",".join(only) in first) == bool(only)
    assert ("-except=" + ",".join(except_) in first) == bool(except_)


@given(paths, selections)
def test_validate_argv_never_machine_readable(files: list[str], only: list[str]) -> None:
    argv = validate_argv("packer", TEMPLATE, var_files=[Path(p) for p in files], only=only,
                         generated_var_file="/t/v.pkrvars.hcl")
    assert argv[:2] == ["packer", "validate"] and "-machine-readable" not in argv
    assert argv[-2:] == ["-var-file=/t/v.pkrvars.hcl", str(TEMPLATE)] and "-var" not in argv


@given(st.booleans(), st.booleans())
def test_fmt_flag_mapping(check: bool, diff: bool) -> None:
    (argv,) = fmt_argvs("packer", Path("/t/x.pkr.hcl"), check=check, diff=diff, recursive=True)
    assert argv[:2] == ["packer", "fmt"]
    assert ("-check" in argv) == check and ("-diff" in argv) == diff
    assert "-recursive" not in argv  # a single file is never recursive


def test_fmt_recursive_native_and_emulated(tmp_path: Path) -> None:
    for sub in ("a", "b/c", ".hidden"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "x.pkr.hcl").write_text("")
    (tmp_path / "empty").mkdir()
    assert fmt_argvs("packer", tmp_path, check=True, native_recursive=True) == [
        ["packer", "fmt", "-check", "-recursive", str(tmp_path)]]
    emulated = fmt_argvs("packer", tmp_path, check=True, native_recursive=False)
    assert emulated == [["packer", "fmt", "-check", str(tmp_path / d)] for d in ("a", "b/c")]
    assert fmt_argvs("packer", tmp_path, recursive=False) == [["packer", "fmt", str(tmp_path)]]
