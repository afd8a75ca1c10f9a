"""Content fingerprints, their use of the stat cache, and the drift diff."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridcore.packer import fingerprint as fp
from hybridcore.packer import statcache
from hybridcore.packer.statcache import StatCache

pytestmark = pytest.mark.unit

OLD = time.time() - 3600  # an mtime safely outside the racy window


def write(path: Path, data: str | bytes, *, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    if old:
        os.utime(path, (OLD, OLD))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root / "templates" / "base.pkr.hcl", 'source "null" "x" {}\n')
    write(root / "vars" / "dc1.pkrvars.hcl", 'region = "dc1"\n')
    write(root / "scripts" / "harden.sh", "#!/bin/sh\necho hi\n")
    for i in range(40):  # more than _POOL_MIN_FILES, so the pool path can run (see test_pool_and_serial_agree)
        write(root / "ansible" / f"role{i % 4}" / f"task{i}.yml", f"- name: task {i}\n")
    return root


def inputs_for(root: Path, **over: Any) -> fp.FingerprintInputs:
    base = fp.FingerprintInputs(
        root=root,
        files=(root / "templates" / "base.pkr.hcl", Path("vars/dc1.pkrvars.hcl")),
        assets=(root / "scripts" / "harden.sh", root / "ansible"),
        vars={"region": "dc1", "cpus": "2"},
        meta={"packer_version": "1.6.6", "env": "dev", "only": "", "except": ""},
    )
    return dataclasses.replace(base, **over)


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests write files "now"; the racy-mtime guard would (rightly) refuse to cache them.
    monkeypatch.setattr(statcache, "RACY_WINDOW_NS", 0)


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = fp._hash_file

    def counting(path: str, st: os.stat_result) -> tuple[str, bool]:
        calls.append(path)
        return original(path, st)

    monkeypatch.setattr(fp, "_hash_file", counting)
    return calls


# ---------------------------------------------------------------------------------------------- basics


def test_keys_and_digests(project: Path) -> None:
    f = fp.compute(inputs_for(project))
    assert "templates/base.pkr.hcl" in f.files
    assert "vars/dc1.pkrvars.hcl" in f.files  # relative input paths are taken relative to root
    assert "ansible/role0/task0.yml" in f.files
    assert len([k for k in f.files if k.startswith("ansible/")]) == 40
    assert f.files["scripts/harden.sh"] == "blake3:" + blake3(b"#!/bin/sh\necho hi\n").hexdigest()
    assert f.vars["region"] == "blake3:" + blake3(b"dc1").hexdigest()
    assert "dc1" not in json.dumps(f.to_entries()["vars"])  # values never stored verbatim
    assert f.meta["packer_version"] == "1.6.6"
    assert f.digest.startswith("blake3:")
    assert len(f.digest) == 7 + 64
    assert f.verify()


def test_deterministic_and_relocatable(project: Path, tmp_path: Path) -> None:
    a = fp.compute(inputs_for(project))
    b = fp.compute(inputs_for(project))
    assert a == b
    # Input order does not matter.
    i = inputs_for(project)
    c = fp.compute(inputs_for(project, files=tuple(reversed(i.files)), assets=tuple(reversed(i.assets))))
    assert c.digest == a.digest
    # The same tree elsewhere has the same fingerprint (keys are root-relative).
    moved = tmp_path / "elsewhere"
    project.rename(moved)
    assert fp.compute(inputs_for(moved)).digest == a.digest


def test_outside_root_key_is_absolute(project: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "shared" / "common.sh", "echo common\n")
    f = fp.compute(inputs_for(project, assets=(outside,)))
    assert str(outside) in f.files


def test_skips_git_and_pycache_only(project: Path) -> None:
    write(project / "ansible" / ".git" / "HEAD", "ref: x\n")
    write(project / "ansible" / "lib" / "__pycache__" / "m.cpython-311.pyc", b"\0")
    write(project / "ansible" / ".hidden", "kept\n")
    keys = fp.compute(inputs_for(project)).files
    assert not any(".git/" in k or "__pycache__" in k for k in keys)
    assert "ansible/.hidden" in keys


def test_empty_inputs() -> None:
    f = fp.compute(
        fp.FingerprintInputs(root=Path("/nonexistent-root"), files=(), assets=(), vars={}, meta={})
    )
    assert f.files == {}
    assert f.vars == {}
    assert f.meta == {}
    assert fp.diff(f, f).clean


def test_non_string_var_rejected(project: Path) -> None:
    with pytest.raises(TypeError, match="cpus"):
        fp.compute(inputs_for(project, vars={"cpus": 2}))


def test_big_file_path_matches_plain_blake3(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fp, "BIG_FILE_BYTES", 1024)
    data = os.urandom(300_000)
    write(project / "images" / "disk.raw", data)
    f = fp.compute(inputs_for(project, assets=(project / "images",)))
    assert f.files["images/disk.raw"] == "blake3:" + blake3(data).hexdigest()


def test_unreadable_input_raises(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: str, st: os.stat_result) -> tuple[str, bool]:
        raise PermissionError(13, "Permission denied", path)  # chmod 0 means nothing to root

    monkeypatch.setattr(fp, "_hash_file", denied)
    with pytest.raises(fp.InputUnreadable, match="Permission denied"):
        fp.compute(inputs_for(project))


# ---------------------------------------------------------------------------------------------- drift


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (
            lambda r: write(r / "scripts" / "harden.sh", "#!/bin/sh\necho bye\n"),
            {"changed": ["scripts/harden.sh"]},
        ),
        (
            lambda r: write(r / "ansible" / "role1" / "new.yml", "- new\n"),
            {"added": ["ansible/role1/new.yml"]},
        ),
        (
            lambda r: (r / "ansible" / "role2" / "task2.yml").unlink(),
            {"removed": ["ansible/role2/task2.yml"]},
        ),
        (
            lambda r: write(r / "templates" / "base.pkr.hcl", "# edited\n"),
            {"changed": ["templates/base.pkr.hcl"]},
        ),
    ],
    ids=["content", "added-in-asset-dir", "removed", "template"],
)
def test_file_changes_detected(
    project: Path, mutate: Callable[[Path], object], expect: dict[str, list[str]]
) -> None:
    trusted = fp.compute(inputs_for(project))
    mutate(project)
    current = fp.compute(inputs_for(project))
    d = fp.diff(trusted, current)
    assert not d.clean
    assert not d.untrusted
    assert current.digest != trusted.digest
    out = d.to_dict()
    for kind in ("added", "removed", "changed"):
        assert out[kind] == expect.get(kind, []), kind
    mark = {"added": "+ ", "removed": "- ", "changed": "~ "}
    for kind, keys in expect.items():
        assert f"{mark[kind]}{keys[0]}" in d.summary().splitlines()
    json.dumps(out)


def test_var_change_names_var_not_value(project: Path) -> None:
    trusted = fp.compute(inputs_for(project))
    current = fp.compute(inputs_for(project, vars={"region": "dc2", "disk": "40G"}))
    d = fp.diff(trusted, current)
    assert d.vars_changed == ("cpus", "disk", "region")  # removed, added, changed
    assert not d.clean
    text = d.summary() + json.dumps(d.to_dict())
    assert "var region changed" in d.summary()
    assert "dc2" not in text
    assert "dc1" not in text
    assert "40G" not in text


def test_meta_change(project: Path) -> None:
    trusted = fp.compute(inputs_for(project))
    meta = {"packer_version": "1.7.0", "env": "dev", "only": "vsphere-iso.base"}
    d = fp.diff(trusted, fp.compute(inputs_for(project, meta=meta)))
    assert dict(d.meta_changed) == {
        "packer_version": ("1.6.6", "1.7.0"),
        "only": ("", "vsphere-iso.base"),
        "except": ("", None),
    }
    assert "packer_version 1.6.6 -> 1.7.0" in d.summary().splitlines()
    assert "except  -> (none)" in d.summary().splitlines()
    assert d.to_dict()["meta_changed"]["packer_version"] == ["1.6.6", "1.7.0"]
    assert not d.clean


def test_missing_file_is_recorded_and_drifts(project: Path) -> None:
    trusted = fp.compute(inputs_for(project))
    (project / "scripts" / "harden.sh").unlink()
    (project / "vars" / "dc1.pkrvars.hcl").unlink()
    current = fp.compute(inputs_for(project))
    assert current.files["scripts/harden.sh"] == fp.MISSING
    assert current.files["vars/dc1.pkrvars.hcl"] == fp.MISSING
    d = fp.diff(trusted, current)
    assert d.changed == ("scripts/harden.sh", "vars/dc1.pkrvars.hcl")
    assert d.missing == ("scripts/harden.sh", "vars/dc1.pkrvars.hcl")
    assert "~ scripts/harden.sh (missing)" in d.summary()
    # Missing both times is stable, not drift.
    assert fp.diff(current, fp.compute(inputs_for(project))).clean
    # A missing asset directory is one "missing" key.
    gone = fp.compute(inputs_for(project, assets=(project / "nope",)))
    assert gone.files["nope"] == fp.MISSING


def test_untrusted_is_never_clean(project: Path) -> None:
    current = fp.compute(inputs_for(project))
    d = fp.diff(None, current)
    assert d.untrusted
    assert not d.clean
    assert set(d.added) == set(current.files)
    assert d.summary().startswith("no trusted fingerprint")
    assert "  ... and 33 more" in d.summary(limit=10).splitlines()
    assert d.to_dict()["untrusted"] is True


def test_clean_diff_summary(project: Path) -> None:
    f = fp.compute(inputs_for(project))
    d = fp.diff(f, f)
    assert d.clean
    assert d.summary() == "no drift"
    assert d.to_dict() == {
        "clean": True,
        "untrusted": False,
        "added": [],
        "removed": [],
        "changed": [],
        "vars_changed": [],
        "meta_changed": {},
        "missing": [],
    }


def test_entries_roundtrip_through_json(project: Path) -> None:
    f = fp.compute(inputs_for(project))
    stored = json.loads(json.dumps({"digest": f.digest, "entries": f.to_entries()}))
    back = fp.Fingerprint.from_entries(stored["digest"], stored["entries"])
    assert back == f
    assert back.verify()
    assert fp.diff(back, f).clean
    tampered = fp.Fingerprint.from_entries(f.digest, {**stored["entries"], "vars": {}})
    assert not tampered.verify()
    with pytest.raises(ValueError, match="files"):
        fp.Fingerprint.from_entries(f.digest, {"files": {"a": 1}})


# ---------------------------------------------------------------------------------------------- symlinks


def test_symlink_hashed_by_target_string(project: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside.sh", "echo outside\n")
    link = project / "ansible" / "link.sh"
    link.symlink_to(outside)
    (project / "ansible" / "loop").symlink_to("..")  # a loop must not hang the walk
    trusted = fp.compute(inputs_for(project))
    assert trusted.files["ansible/link.sh"] != "blake3:" + blake3(b"echo outside\n").hexdigest()
    assert "ansible/loop" in trusted.files
    assert not any(k.startswith("ansible/loop/") for k in trusted.files)
    # The link is not followed out of the tree: editing its target is not drift here...
    write(outside, "echo changed outside\n")
    assert fp.diff(trusted, fp.compute(inputs_for(project))).clean
    # ...but re-pointing the link is.
    link.unlink()
    link.symlink_to(tmp_path / "other.sh")  # dangling is fine too
    d = fp.diff(trusted, fp.compute(inputs_for(project)))
    assert d.changed == ("ansible/link.sh",)


def test_link_inside_the_project_is_hashed_by_what_it_points_to(project: Path, tmp_path: Path) -> None:
    # A provisioner folder that links to shared content elsewhere in the repository: the build copies
    # the content, so the content is the input.
    shared = write(project / "shared" / "common.yml", "- name: common\n")
    write(project / "shared" / "lib" / "a.sh", "echo a\n")
    (project / "ansible" / "common.yml").symlink_to(Path("..") / "shared" / "common.yml")
    (project / "ansible" / "lib").symlink_to(project / "shared" / "lib")
    (project / "shared" / "lib" / "back").symlink_to(project / "ansible")  # a loop through two links
    outside = write(tmp_path / "outside.sh", "echo outside\n")
    (project / "ansible" / "out.sh").symlink_to(outside)
    trusted = fp.compute(inputs_for(project))
    assert trusted.files["ansible/common.yml"] == "blake3:" + blake3(shared.read_bytes()).hexdigest()
    assert trusted.files["ansible/lib/a.sh"] == "blake3:" + blake3(b"echo a\n").hexdigest()
    assert trusted.outside == (f"ansible/out.sh -> {outside}",)
    write(shared, "- name: changed\n")
    write(project / "shared" / "lib" / "a.sh", "echo b\n")
    d = fp.diff(trusted, fp.compute(inputs_for(project)))
    assert d.changed == ("ansible/common.yml", "ansible/lib/a.sh")


def test_named_symlink_is_followed(project: Path) -> None:
    real = project / "scripts" / "harden.sh"
    alias = project / "scripts" / "alias.sh"
    alias.symlink_to(real)
    f = fp.compute(inputs_for(project, assets=(alias,)))
    assert f.files["scripts/alias.sh"] == "blake3:" + blake3(real.read_bytes()).hexdigest()


def test_fifo_does_not_block(project: Path) -> None:
    os.mkfifo(project / "ansible" / "pipe")
    f = fp.compute(inputs_for(project))
    assert f.files["ansible/pipe"].startswith("blake3:")


# ---------------------------------------------------------------------------------------------- with a stat cache


@pytest.mark.usefixtures("no_racy_window")
def test_warm_run_reads_nothing(project: Path, tmp_path: Path, hash_calls: list[str]) -> None:
    cache_path = tmp_path / ".hybridcore" / "statcache.json"
    cache = StatCache(cache_path)
    cold = fp.compute(inputs_for(project), cache=cache)
    cache.save()
    assert len(hash_calls) == len(cold.files) == 43
    hash_calls.clear()
    # Same process, same cache object.
    assert fp.compute(inputs_for(project), cache=cache) == cold
    # A new process: the cache loaded from disk.
    assert fp.compute(inputs_for(project), cache=StatCache(cache_path)) == cold
    assert hash_calls == []
    assert stat.S_IMODE(cache_path.stat().st_mode) == 0o600


@pytest.mark.usefixtures("no_racy_window")
def test_touch_without_change_is_rehashed_then_cached(
    project: Path, tmp_path: Path, hash_calls: list[str]
) -> None:
    cache = StatCache(tmp_path / "c.json")
    trusted = fp.compute(inputs_for(project), cache=cache)
    hash_calls.clear()
    touched = project / "ansible" / "role3" / "task3.yml"
    os.utime(touched, (OLD + 60, OLD + 60))
    current = fp.compute(inputs_for(project), cache=cache)
    assert fp.diff(trusted, current).clean
    assert hash_calls == [str(touched)]
    hash_calls.clear()
    fp.compute(inputs_for(project), cache=cache)
    assert hash_calls == []


@pytest.mark.usefixtures("no_racy_window")
def test_edit_that_restores_mtime_is_still_seen(project: Path, tmp_path: Path) -> None:
    # cp -p / touch -r style: same size, same mtime, new bytes. ctime in the signature catches it.
    cache = StatCache(tmp_path / "c.json")
    trusted = fp.compute(inputs_for(project), cache=cache)
    target = project / "vars" / "dc1.pkrvars.hcl"
    before = target.stat()
    time.sleep(0.01)
    target.write_text('region = "dc2"\n')
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    d = fp.diff(trusted, fp.compute(inputs_for(project), cache=cache))
    assert d.changed == ("vars/dc1.pkrvars.hcl",)


def test_racy_files_are_not_cached(
    tmp_path: Path, hash_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short window keeps the test fast; ctime cannot be backdated, so "old" means waiting it out.
    monkeypatch.setattr(statcache, "RACY_WINDOW_NS", 300_000_000)
    root = tmp_path / "p"
    write(root / "old.sh", "old\n")
    time.sleep(0.35)
    write(root / "fresh.sh", "fresh\n", old=False)  # modified "now": inside the racy window
    inputs = fp.FingerprintInputs(root=root, files=(), assets=(root,), vars={}, meta={})
    cache = StatCache(tmp_path / "c.json")
    fp.compute(inputs, cache=cache)
    hash_calls.clear()
    fp.compute(inputs, cache=cache)
    assert hash_calls == [str(root / "fresh.sh")]


@pytest.mark.usefixtures("no_racy_window")
@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xffnot json",
        b"",
        b"[1,2,3]",
        b'{"version": 99, "entries": {}}',
        b'{"version": 1, "entries": []}',
        b'{"version": 1, "entries": {"/x": 5, "/y": "1 2 3"}}',
    ],
    ids=["binary", "empty", "list", "future-version", "entries-not-map", "bad-values"],
)
def test_corrupt_cache_is_ignored_and_rebuilt(
    project: Path, tmp_path: Path, hash_calls: list[str], garbage: bytes
) -> None:
    cache_path = tmp_path / "statcache.json"
    cache_path.write_bytes(garbage)
    expected = fp.compute(inputs_for(project))
    hash_calls.clear()
    cache = StatCache(cache_path)
    assert fp.compute(inputs_for(project), cache=cache) == expected
    cache.save()
    assert json.loads(cache_path.read_bytes())["version"] == 1
    hash_calls.clear()
    assert fp.compute(inputs_for(project), cache=StatCache(cache_path)) == expected
    assert hash_calls == []


# ---------------------------------------------------------------------------------------------- properties

names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
values = st.text(max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    files=st.dictionaries(names, st.one_of(st.just(fp.MISSING), st.text(max_size=20))),
    vars=st.dictionaries(names, values),
    meta=st.dictionaries(names, values),
)
def test_diff_of_itself_is_clean(files: dict[str, str], vars: dict[str, str], meta: dict[str, str]) -> None:
    f = fp.Fingerprint.from_parts(files, vars, meta)
    assert fp.diff(f, f).clean
    back = fp.Fingerprint.from_entries(f.digest, json.loads(json.dumps(f.to_entries())))
    assert fp.diff(back, f).clean
    assert back.verify()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    contents=st.dictionaries(
        st.from_regex(r"[a-z0-9_.-]{1,8}(/[a-z0-9_-]{1,8}){0,2}", fullmatch=True).filter(
            lambda s: not any(p in {".", ".."} or p.startswith(".git") for p in s.split("/"))
        ),
        st.binary(max_size=64),
        max_size=8,
    ),
    vars=st.dictionaries(names, values, max_size=4),
    meta=st.dictionaries(names, values, max_size=4),
)
def test_compute_then_diff_itself_is_clean(
    tmp_path_factory: pytest.TempPathFactory,
    contents: dict[str, bytes],
    vars: dict[str, str],
    meta: dict[str, str],
) -> None:
    root = tmp_path_factory.mktemp("prop")
    (root / "assets").mkdir()
    written: list[Path] = []
    for rel, data in contents.items():
        p = root / "assets" / rel
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            continue  # "a" and "a/b" both drawn: one of them cannot exist
        written.append(p)
    inputs = fp.FingerprintInputs(root=root, files=(), assets=(root / "assets",), vars=vars, meta=meta)
    a, b = fp.compute(inputs), fp.compute(inputs)
    assert a == b
    assert fp.diff(a, b).clean
    assert set(a.files) == {p.relative_to(root).as_posix() for p in written if p.is_file()}


def test_pool_and_serial_agree(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = fp.compute(inputs_for(project))
    monkeypatch.setattr(fp, "_POOL_MIN_CPUS", 1)  # force the thread pool on this machine
    pooled = fp.compute(inputs_for(project))
    assert pooled == serial
