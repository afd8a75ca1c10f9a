"""init: a hybridcore.toml that loads, one target per template folder, idempotent .gitignore."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridcore.errors import ConfigError
from hybridcore.packer.config import load_project
from hybridcore.packer.init import init_project

pytestmark = pytest.mark.unit


def test_targets_for_found_templates_and_gitignore(tmp_path: Path) -> None:
    (tmp_path / "packer" / "web").mkdir(parents=True)
    (tmp_path / "packer" / "web" / "web.pkr.hcl").write_text("")
    (tmp_path / "packer" / "web" / "vars.pkr.hcl").write_text("")
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "centos.json").write_text('{"builders": []}')
    (tmp_path / "legacy" / "notes.json").write_text('{"x": 1}')
    (tmp_path / "output-web").mkdir()
    (tmp_path / "output-web" / "junk.pkr.hcl").write_text("")
    (tmp_path / ".gitignore").write_text("/.venv\n.hybridcore/")  # no trailing newline
    result = init_project(tmp_path)
    assert result.targets == ("legacy-centos", "packer-web")
    assert result.gitignore_added == ("artifacts/",)
    assert (tmp_path / ".gitignore").read_text().splitlines()[-1] == "artifacts/"
    project = load_project(tmp_path)
    assert {n: t.template for n, t in project.targets.items()} == {
        "legacy-centos": tmp_path / "legacy" / "centos.json", "packer-web": tmp_path / "packer" / "web"}


def test_empty_folder_gets_a_commented_example_and_never_overwrites(tmp_path: Path) -> None:
    result = init_project(tmp_path)
    assert result.targets == () and result.gitignore_added == (".hybridcore/", "artifacts/")
    assert load_project(tmp_path).targets == {}
    before = (tmp_path / "hybridcore.toml").read_text()
    with pytest.raises(ConfigError, match="already exists"):
        init_project(tmp_path)
    assert (tmp_path / "hybridcore.toml").read_text() == before
    assert (tmp_path / ".gitignore").read_text().count("artifacts/") == 1


def test_target_names_drop_suffixes_and_repeated_parts(tmp_path: Path) -> None:
    for rel in ("packer/legacy/legacy.json", "images/ubuntu/ubuntu.pkr.hcl", "images/ubuntu/ubuntu-2.pkr.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text('{"builders": []}' if rel.endswith("legacy.json") else "")
    names = set(init_project(tmp_path).targets)
    assert "packer-legacy" in names and all("legacy-legacy" not in n and ".pkr" not in n for n in names)
    assert len(load_project(tmp_path).targets) == len(names)


def test_a_name_never_starts_with_an_underscore(tmp_path: Path) -> None:
    (tmp_path / "_base").mkdir()
    (tmp_path / "_base" / "x.json").write_text('{"builders": []}')
    assert init_project(tmp_path).targets == ("base-x",)
    assert set(load_project(tmp_path).targets) == {"base-x"}
