"""The one resolver of template values, and the analysis cache written through files.py."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from hybridcore.packer.templates import analyze, interpolate, sensitive_literal_defaults

pytestmark = pytest.mark.unit

WORKDIR = Path("/proj/templates")


@pytest.mark.parametrize(
    ("value", "variables", "expected"),
    [
        ("plain", {}, "plain"),
        ('"quoted literal"', {}, "quoted literal"),  # older python-hcl2 keeps a literal's quotes
        ("${var.region}", {"region": "eu-west-1"}, "eu-west-1"),
        ("${ var.region }", {"region": "eu-west-1"}, "eu-west-1"),
        ("img-${var.v}-${var.v}", {"v": "2"}, "img-2-2"),
        ("${path.root}/out", {}, "/proj/templates/out"),
        ("${var.missing}", {}, None),
        ("${local.x}", {}, None),
        ("${var.a}", {"a": "${var.b}", "b": "x"}, None),  # a value is literal text: never expanded again
        ("${var.n}", {"n": 3}, None),  # only rendered (string) values count
        (7, {}, "7"),
        (1.5, {}, "1.5"),
        (True, {}, None),
        (None, {}, None),
        (["a"], {}, None),
    ],
)
def test_interpolate(value: Any, variables: dict[str, Any], expected: str | None) -> None:
    assert interpolate(value, WORKDIR, variables) == expected


def test_path_root_needs_a_workdir_and_is_taken_literally() -> None:
    assert interpolate("${path.root}/x", None, {}) is None
    assert interpolate("${path.root}/x", Path(r"/a\1b"), {}) == r"/a\1b/x"  # no regex escapes


def test_path_root_and_argument_follow_the_workdir(tmp_path: Path) -> None:
    tpl = tmp_path / "images" / "ubuntu" / "templates"
    tpl.mkdir(parents=True)
    (tpl / "a.pkr.hcl").write_text('source "null" "a" {\n  communicator = "none"\n}\n')
    folder = analyze(tpl, workdir=tmp_path)
    assert (folder.argument, folder.path_root, folder.workdir) == ("images/ubuntu/templates",
                                                                  "images/ubuntu/templates", tmp_path)
    single = analyze(tpl / "a.pkr.hcl", workdir=tmp_path / "images")
    assert (single.argument, single.path_root) == ("ubuntu/templates/a.pkr.hcl", "ubuntu/templates")
    here = analyze(tpl / "a.pkr.hcl", workdir=tpl)
    assert (here.argument, here.path_root) == ("a.pkr.hcl", ".")
    outside = analyze(tpl, workdir=tmp_path / "images" / "ubuntu" / "templates" / "..")
    assert outside.argument == "templates"
    assert analyze(tpl).workdir == tpl  # no workdir: the template's own folder


def test_builds_are_named_as_packer_names_them(tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(
        'source "file" "rootfs" {\n  source = "a.txt"\n  target = "b.img"\n}\n'
        'source "null" "smoke" {\n  communicator = "none"\n}\n'
        'data "amazon-ami" "x" {\n  region = "us-east-1"\n}\n'
        'build {\n  sources = ["source.null.smoke", "source.file.rootfs"]\n}\n'
        'build {\n  name = "ubuntu"\n  sources = ["source.null.smoke"]\n}\n'
        'build {\n  name = "app"\n  source "source.file.rootfs" {\n    name = "app-rootfs"\n  }\n}\n'
    )
    info = analyze(tmp_path)
    names = {b.name: (b.source_type, b.source_key, b.source_name) for b in info.builds}
    assert names == {
        "null.smoke": ("null", "null.smoke", "null.smoke"),
        "file.rootfs": ("file", "file.rootfs", "file.rootfs"),
        "ubuntu.null.smoke": ("null", "null.smoke", "null.smoke"),
        "app.file.app-rootfs": ("file", "file.rootfs", "file.app-rootfs"),
    }
    # Artifacts are parsed by the source type: a named build block never becomes the builder type.
    assert info.builder_type("ubuntu.null.smoke") == "null"
    assert info.builder_type("app.file.app-rootfs") == "file"
    assert info.builder_type("nope") == ""
    assert info.source_attrs("app.file.app-rootfs")["source"] == '"a.txt"'
    assert info.data_sources == ("amazon-ami.x",)


def test_legacy_json_builds_and_sensitive_variables(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(
        '{"variables": {"pw": "{{env `PW`}}", "x": "1"}, "sensitive-variables": ["pw"],'
        ' "builders": [{"type": "qemu", "name": "vm-a"}, {"type": "null"}],'
        ' "post-processors": ["checksum", [{"type": "manifest", "output": "m.json"}]]}'
    )
    info = analyze(tmp_path / "t.json")
    assert info.kind == "json"
    assert [(b.name, b.source_type) for b in info.builds] == [("vm-a", "qemu"), ("null", "null")]
    assert info.sensitive_names() == {"pw"} and info.variables["pw"].env_default == "PW"
    assert [b.type for b in info.builds[0].post_processors] == ["checksum", "manifest"]
    assert info.manifest_outputs == ("m.json",)


def test_analysis_cache_is_private_and_reused(tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text('variable "x" {\n  sensitive = true\n}\n')
    cache = tmp_path / "state" / "parsed"
    first = analyze(tmp_path / "t.pkr.hcl", cache_dir=cache)
    (entry,) = (cache / "templates").iterdir()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE((cache / "templates").stat().st_mode) == 0o700
    entry.write_text(entry.read_text().replace('"sensitive": true', '"sensitive": false'))
    assert first.sensitive_names() == {"x"}
    assert analyze(tmp_path / "t.pkr.hcl", cache_dir=cache).sensitive_names() == frozenset()  # from the cache
    entry.write_text("[]")  # not a summary: parsed again
    assert analyze(tmp_path / "t.pkr.hcl", cache_dir=cache).sensitive_names() == {"x"}


@pytest.mark.parametrize(("name", "text"), [
    ("t.pkr.hcl", 'variable "pw" {\n  sensitive = true\n  default = "Lit-Secret-1"\n}\n'
                  'variable "m" {\n  sensitive = true\n  default = { a = ["Inner-2"] }\n}\n'
                  'variable "e" {\n  sensitive = true\n  default = env("X")\n}\n'
                  'variable "open" {\n  default = "not-a-secret"\n}\n'),
    ("t.pkr.json", '{"variable": {"pw": {"sensitive": true, "default": "Lit-Secret-1"},'
                   ' "m": {"sensitive": true, "default": {"a": ["Inner-2"]}},'
                   ' "open": {"default": "not-a-secret"}}}'),
    ("t.json", '{"variables": {"pw": "Lit-Secret-1", "m": "Inner-2", "e": "{{env `X`}}", "open": "x"},'
               ' "sensitive-variables": ["pw", "m", "e"], "builders": [{"type": "null"}]}'),
])
def test_sensitive_literal_defaults_are_read_but_never_cached(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    cache = tmp_path / "parsed"
    info = analyze(tmp_path / name, cache_dir=cache)
    found = sensitive_literal_defaults(info)
    assert set(found) == {"pw", "m"}
    assert found["pw"] == "Lit-Secret-1" and "Inner-2" in str(found["m"])
    cached = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    assert cached and b"Lit-Secret-1" not in cached and b"Inner-2" not in cached


def test_sensitive_literal_defaults_redact_strings_only_and_warn_when_too_short(tmp_path: Path) -> None:
    from hybridcore.packer.config import Target
    from hybridcore.packer.planvars import plan_vars

    (tmp_path / "t.pkr.hcl").write_text(
        'variable "debug" {\n  type = bool\n  sensitive = true\n  default = true\n}\n'
        'variable "port" {\n  type = number\n  sensitive = true\n  default = 2022\n}\n'
        'variable "pin" {\n  sensitive = true\n  default = "abc"\n}\n'
        'variable "pw" {\n  sensitive = true\n  default = { k = ["Long-Secret-7"] }\n}\n')
    info = analyze(tmp_path / "t.pkr.hcl")
    planned = plan_vars(Target("t", tmp_path / "t.pkr.hcl"), info, parsed=True, given=None, var_files=[],
                        provisioners=[], base_env={}, hybridcore_env="dev")
    assert planned.redactor('ok=true port=2022 ["Long-Secret-7"]') == f'ok=true port=2022 ["{planned.redactor.marker}"]'
    assert [w for w in planned.warnings if "shorter than" in w] == [
        "t: sensitive variable 'pin' has a literal default shorter than 4 characters, which cannot be redacted"]
