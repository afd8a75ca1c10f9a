"""The one resolver of template values, and the analysis cache written through files.py."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from hybridcore.packer.templates import analyze, interpolate

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


def test_assets_resolve_path_root_only(tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(
        'source "null" "a" {\n  communicator = "none"\n}\n'
        'build {\n  sources = ["source.null.a"]\n'
        '  provisioner "shell-local" {\n    script = "${path.root}/setup.sh"\n  }\n'
        '  provisioner "shell-local" {\n    script = "${var.dir}/x.sh"\n  }\n}\n'
    )
    info = analyze(tmp_path)
    assert info.assets == ((tmp_path / "setup.sh").resolve(),)
    assert info.unresolved_assets == ("${var.dir}/x.sh",)


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
