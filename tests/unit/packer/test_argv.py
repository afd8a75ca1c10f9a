"""Deterministic argv: property tests over the mapping from a request to Packer's command line."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hybridcore.packer.argv import build_argv, fmt_argvs, validate_argv

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
var_maps = st.dictionaries(names, values, max_size=6)
paths = st.lists(st.from_regex(r"/[a-z]{1,8}/[a-z]{1,8}\.pkrvars\.hcl", fullmatch=True), max_size=4)
selections = st.lists(st.from_regex(r"[a-z]{1,6}\.[a-z]{1,6}", fullmatch=True), max_size=3)
TEMPLATE = Path("/proj/templates/web")


@given(var_maps, paths, selections, selections, st.booleans())
def test_build_argv_is_deterministic_and_ordered(vars_: dict[str, str], files: list[str], only: list[str],
                                                 except_: list[str], force: bool) -> None:
    var_files = [Path(p) for p in files]
    first = build_argv("packer", TEMPLATE, plain_vars=vars_, var_files=var_files, only=only, except_=except_,
                       force=force)
    shuffled = dict(reversed(list(vars_.items())))
    second = build_argv("packer", TEMPLATE, plain_vars=shuffled, var_files=var_files, only=only,
                        except_=except_, force=force)
    assert first == second
    assert first[:3] == ["packer", "build", "-machine-readable"]
    assert ("-force" in first) == force
    assert first[-1] == str(TEMPLATE)
    # var files keep their order; -var pairs are sorted by name and come after the var files
    assert [a for a in first if a.startswith("-var-file=")] == [f"-var-file={p}" for p in var_files]
    pairs = [first[i + 1] for i, a in enumerate(first) if a == "-var"]
    assert pairs == [f"{k}={vars_[k]}" for k in sorted(vars_)]
    if vars_ and var_files:
        assert first.index(f"-var-file={var_files[-1]}") < first.index("-var")
    assert ("-only=" + ",".join(only) in first) == bool(only)
    assert ("-except=" + ",".join(except_) in first) == bool(except_)


@given(var_maps, selections)
def test_validate_argv_never_machine_readable(vars_: dict[str, str], only: list[str]) -> None:
    argv = validate_argv("packer", TEMPLATE, plain_vars=vars_, only=only)
    assert argv[:2] == ["packer", "validate"] and "-machine-readable" not in argv
    assert argv == validate_argv("packer", TEMPLATE, plain_vars=dict(sorted(vars_.items())), only=only)


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
