"""hybridcore.toml parsing and target resolution: every mistake is a clear error with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridcore.errors import ConfigError, TemplateNotFound, UnknownTarget
from hybridcore.packer.config import load_project


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
    assert t.adhoc and t.name == "t/a.pkr.hcl" and t.slug == "t_a.pkr.hcl"
