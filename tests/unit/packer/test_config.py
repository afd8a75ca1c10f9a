"""hybridcore.toml parsing and target resolution: every mistake is a clear error with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridcore.errors import ConfigError, TemplateNotFound, UnknownTarget
from hybridcore.files import UnsafeFolder
from hybridcore.packer.config import Target, load_project


def _project(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "t").mkdir(exist_ok=True)
    (tmp_path / "t" / "a.pkr.hcl").write_text("")
    (tmp_path / "hybridcore.toml").write_text(toml)
    return tmp_path


def test_targets_and_defaults(tmp_path: Path) -> None:
    root = _project(tmp_path, '[targets.a]\ntemplate = "t"\nonly = ["x.y"]\nvars = { r = "1" }\n'
                              '[build]\nretries = 2\n[packer]\nversion = ">=1.6"\n')
    p = load_project(root)
    assert p.root == root and p.build_retries == 2 and p.packer_version == ">=1.6"
    (a,) = p.resolve(None)
    assert a.template == root / "t" and a.only == ("x.y",) and a.vars == {"r": "1"}
    assert p.default_cache_dir == root / ".hybridcore" / "cache"


def test_found_from_a_subfolder(tmp_path: Path) -> None:
    root = _project(tmp_path, '[targets.a]\ntemplate = "t"\n')
    assert load_project(root / "t").root == root


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    root = _project(tmp_path, '[targets.a]\ntemplate = "t"\nbroken = = 1\n')
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert "hybridcore.toml" in str(info.value) and "line 3" in str(info.value)


@pytest.mark.parametrize("toml", [
    '[targets.a]\ntemplate = "t"\nbogus = 1\n',
    '[targets.a]\ntemplate = 3\n',
    '[targets.a]\ntemplate = "t"\nonly = "x", \n',
    '[build]\nretries = -1\n',
    '[targets.a]\ntemplate = "t"\ntimeout = "soon"\n',
    'targets = 3\n',
])
def test_wrong_types_and_unknown_keys(tmp_path: Path, toml: str) -> None:
    with pytest.raises(ConfigError):
        load_project(_project(tmp_path, toml))


def test_missing_template_and_unknown_target(tmp_path: Path) -> None:
    with pytest.raises(TemplateNotFound):
        load_project(_project(tmp_path, '[targets.a]\ntemplate = "nope"\n'))
    p = load_project(_project(tmp_path, '[targets.a]\ntemplate = "t"\n[targets.b]\ntemplate = "t"\n'))
    with pytest.raises(UnknownTarget) as info:
        p.resolve(["c"], cwd=tmp_path)
    assert info.value.known == ["a", "b"] and info.value.hint
    with pytest.raises(TemplateNotFound):
        p.resolve(["t/missing.pkr.hcl"], cwd=tmp_path)


def test_adhoc_template_path(tmp_path: Path) -> None:
    p = load_project(_project(tmp_path, ""))
    (t,) = p.resolve(["t/a.pkr.hcl"], cwd=tmp_path)
    assert t.adhoc and t.name == "t/a.pkr.hcl" and t.slug.startswith("t_a.pkr.hcl~")


@pytest.mark.parametrize(("toml", "says"), [
    ('[buidl]\nretries = 1\n', "did you mean 'build'"),
    ('[build]\nretires = 1\n', "did you mean 'retries'"),
    ('[targets.a]\ntemplate = "t"\nvar_file = ["x"]\n', "did you mean 'var_files'"),
    ('retries = 1\n', "unknown key 'retries'"),
    ('[targets.a]\ntemplate = "t"\nvars = { a = "x\\u0000y" }\n', "NUL byte"),
    ('[runs]\nkeep = 0\n', "positive integer"),
    ('[build]\nstrict = "yes"\n', "true or false"),
    ('[secrets]\npw = "not an env name"\n', "environment variable"),
    ('[targets.a]\ntemplate = "t"\nworkdir = "nowhere"\n', "workdir is not a folder"),
    ('[targets.a]\ntemplate = "t"\nvars = { pw = "x" }\nsecrets = { pw = "PW" }\n', "both in vars and secrets"),
])
def test_strict_config_names_the_mistake(tmp_path: Path, toml: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_project(_project(tmp_path, toml))
    assert says in f"{info.value} {info.value.hint}"


def test_oversized_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="limit"):
        load_project(_project(tmp_path, f'[targets.a]\ntemplate = "t"\nvars = {{ a = "{"x" * 200_000}" }}\n'))


def test_workdir_secrets_strict_and_keep(tmp_path: Path) -> None:
    root = _project(tmp_path, '[secrets]\npw = "HC_PW"\n[build]\nstrict = true\n[runs]\nkeep = 5\n'
                              '[targets.a]\ntemplate = "t"\nworkdir = "t"\nsecrets = { tok = "HC_TOK" }\n'
                              '[targets.b]\ntemplate = "t"\n')
    p = load_project(root)
    assert p.strict and p.runs_keep == 5
    a, b = p.resolve(["a", "b"], cwd=root)
    assert a.secrets == {"pw": "HC_PW", "tok": "HC_TOK"} and b.secrets == {"pw": "HC_PW"}
    assert p.workdir_of(a) == root / "t" and p.workdir_of(b) == root
    (adhoc,) = p.resolve(["t/a.pkr.hcl"], cwd=root / "t" / "..")
    assert p.workdir_of(adhoc) == root  # an ad-hoc template runs where the caller is


def test_missing_declared_inputs_are_refused_when_selected(tmp_path: Path) -> None:
    root = _project(tmp_path, '[targets.a]\ntemplate = "t"\nvar_files = ["vars/x.pkrvars.hcl"]\n'
                              '[targets.b]\ntemplate = "t"\nprovisioners = ["scripts/gone.sh"]\n'
                              '[targets.c]\ntemplate = "t"\n')
    p = load_project(root)  # loading alone does not fail: other targets stay usable
    assert [t.name for t in p.resolve(["c"], cwd=root)] == ["c"]
    with pytest.raises(ConfigError, match="var file not found"):
        p.resolve(["a"], cwd=root)
    with pytest.raises(ConfigError, match="provisioner not found"):
        p.resolve(["b"], cwd=root)


def test_reference_lists_every_accepted_key() -> None:
    from hybridcore.packer.config_keys import SECTION_KEYS, TARGET_KEYS, reference_markdown

    ref = reference_markdown()
    for key in TARGET_KEYS:
        assert f"`[targets.NAME] {key.name}`" in ref
    for section, keys in SECTION_KEYS.items():
        for key in keys:
            assert f"`[{section}] {key.name}`" in ref


_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.~/ -]{0,50}", fullmatch=True)


@given(a=_NAMES, b=_NAMES)
def test_different_target_names_never_share_a_run_folder(a: str, b: str) -> None:
    sa, sb = Target(a, Path("t")).slug, Target(b, Path("t")).slug
    assert (sa == sb) == (a == b)
    for s in (sa, sb):
        assert len(s) <= 36 and "/" not in s and not s.startswith((".", "_"))


def test_a_plain_name_is_its_own_folder_name() -> None:
    assert [Target(n, Path("t")).slug for n in ("a", "ubuntu-22.04", "web_1")] == ["a", "ubuntu-22.04", "web_1"]
    assert len({Target(n, Path("t")).slug for n in ("a", "a_", "a.", "a..")}) == 4


@pytest.mark.parametrize("folder", [".hybridcore", ".hybridcore/logs", "artifacts"])
def test_a_symlinked_own_folder_is_refused_on_load(tmp_path: Path, folder: str) -> None:
    (tmp_path / "hybridcore.toml").write_text("")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (tmp_path / folder).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / folder).symlink_to(elsewhere)
    with pytest.raises(UnsafeFolder, match="symlink"):
        load_project(tmp_path)
