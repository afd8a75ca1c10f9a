"""resolve(): a template evaluated as Packer 1.6.6 sees it from its working folder.

The path rules asserted here were checked against /usr/bin/packer (1.6.6): ``path.root`` is the
template path as typed (a file's folder), ``file()``/``fileset()`` join a relative path onto it,
every other path attribute is relative to the working folder; see tests/realworld/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hybridcore.packer.template_eval import resolve
from hybridcore.packer.template_resolver import matches
from hybridcore.packer.templates import Resolution, analyze

pytestmark = pytest.mark.unit


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _resolve(root: Path, template: str, *, workdir: str = ".", **kw: Any) -> Resolution:
    info = analyze(root / template, workdir=root / workdir)
    return resolve(info, root=root, env=kw.pop("env", {}), **kw)


def _inputs(r: Resolution, root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in r.inputs}


def test_path_root_is_the_argument_and_file_joins_onto_it(tmp_path: Path) -> None:
    _write(tmp_path, {
        "packer/t.pkr.hcl": (
            'locals {\n  motd = file("files/motd.txt")\n  deep = file("${path.root}/files/motd.txt")\n}\n'
            'source "null" "a" {\n  communicator = "none"\n}\n'
            'build {\n  sources = ["source.null.a"]\n'
            '  provisioner "shell-local" {\n    script = "./${path.root}/scripts/hello.sh"\n  }\n'
            '  provisioner "shell-local" {\n    scripts = ["${path.cwd}/run/x.sh"]\n  }\n}\n'),
        "packer/files/motd.txt": "hi\n",
        "packer/scripts/hello.sh": "echo\n",
        "run/x.sh": "echo\n",
    })
    r = _resolve(tmp_path, "packer/t.pkr.hcl")
    # file("${path.root}/...") with path.root "packer" reads packer/packer/...: Packer's rule, kept.
    assert _inputs(r, tmp_path) == {"packer/files/motd.txt", "packer/packer/files/motd.txt",
                                    "packer/scripts/hello.sh", "run/x.sh"}
    assert r.unresolved == ()


def test_a_template_run_from_its_own_folder(tmp_path: Path) -> None:
    _write(tmp_path, {
        "p/main.pkr.hcl": (
            'locals {\n  smoke = [for p in sort(fileset(path.root, "env/*/smoke.sh")) : "${path.root}/${p}"]\n}\n'
            'source "null" "s" {\n  communicator = "none"\n}\n'
            'build {\n  sources = ["source.null.s"]\n'
            '  provisioner "shell-local" {\n    scripts = local.smoke\n  }\n}\n'),
        "p/env/a/smoke.sh": "", "p/env/b/smoke.sh": "", "p/env/b/other.sh": "",
    })
    info = analyze(tmp_path / "p", workdir=tmp_path / "p")
    assert (info.argument, info.path_root) == (".", ".")
    r = resolve(info, env={}, root=tmp_path)
    assert _inputs(r, tmp_path) == {"p/env/a/smoke.sh", "p/env/b/smoke.sh"}


def test_variables_come_from_defaults_env_var_files_and_values_in_packer_order(tmp_path: Path) -> None:
    _write(tmp_path, {
        "t/vars.pkr.hcl": (
            'variable "a" {\n  default = "def-a"\n}\nvariable "b" {\n  default = "def-b"\n}\n'
            'variable "c" {\n  default = "def-c"\n}\nvariable "d" {\n  default = env("D_FROM_ENV")\n}\n'
            'variable "e" {\n  type = list(string)\n}\n'
            'variable "pw" {\n  sensitive = true\n  default = "x"\n}\n'),
        "t/main.pkr.hcl": (
            'source "null" "s" {\n  communicator = "none"\n}\n'
            'build {\n  sources = ["source.null.s"]\n'
            '  provisioner "shell-local" {\n'
            '    scripts = concat(["${var.a}.sh", "${var.b}.sh", "${var.c}.sh", "${var.d}.sh"], var.e)\n  }\n'
            '  provisioner "shell-local" {\n    script = "${var.pw}.sh"\n  }\n}\n'),
        "t/z.auto.pkrvars.hcl": 'b = "auto-b"\nc = "auto-c"\n',
        "v.pkrvars.hcl": 'c = "file-c"\n',
    })
    r = _resolve(tmp_path, "t", var_files=[tmp_path / "v.pkrvars.hcl"], values={"e": '["given-e.sh"]'},
                 hidden={"pw"}, env={"PKR_VAR_a": "env-a", "PKR_VAR_b": "env-b", "D_FROM_ENV": "env-d"})
    assert _inputs(r, tmp_path) == {"env-a.sh", "auto-b.sh", "file-c.sh", "env-d.sh", "given-e.sh"}
    # The sensitive value is never evaluated: the path built from it is named, not guessed.
    assert r.unresolved == ('provisioner shell-local script = "${var.pw}.sh"',)
    assert r.env_reads == {"D_FROM_ENV": "env-d", "PKR_VAR_a": "env-a", "PKR_VAR_d": None, "PKR_VAR_pw": None}
    assert r.var_origins == {"b": str(tmp_path / "t/z.auto.pkrvars.hcl"), "c": str(tmp_path / "v.pkrvars.hcl")}


def test_named_and_fill_in_builds_only_globs_and_unmatched_entries(tmp_path: Path) -> None:
    _write(tmp_path, {"t/t.pkr.hcl": (
        'source "file" "rootfs" {\n  source = "files/rootfs.txt"\n  target = "out.img"\n}\n'
        'source "null" "smoke" {\n  communicator = "none"\n}\n'
        'build {\n  sources = ["source.null.smoke"]\n}\n'
        'build {\n  name = "app"\n  source "source.file.rootfs" {\n    name = "app-rootfs"\n  }\n'
        '  provisioner "shell-local" {\n    only = ["file.app-rootfs"]\n    script = "only-rootfs.sh"\n  }\n'
        '  provisioner "shell-local" {\n    except = ["file.app-rootfs"]\n    script = "never.sh"\n  }\n}\n')})
    info = analyze(tmp_path / "t", workdir=tmp_path)
    assert {b.name for b in info.builds} == {"null.smoke", "app.file.app-rootfs"}
    assert info.builder_type("app.file.app-rootfs") == "file"  # the source type, never the build name
    r = resolve(info, only=["app.*", "file.rootfs", "*.smoke"], env={}, root=tmp_path)
    assert set(r.selected) == {"app.file.app-rootfs", "null.smoke"}
    assert r.unmatched_only == ("file.rootfs",)  # full names only: file.rootfs is app.file.app-rootfs now
    assert _inputs(r, tmp_path) == {"files/rootfs.txt", "only-rootfs.sh"}
    assert resolve(info, except_=["app.*"], env={}).selected == ("null.smoke",)


@pytest.mark.parametrize(
    ("pattern", "name", "globs", "expected"),
    [
        ("app.*", "app.file.rootfs", True, True),
        ("*.smoke", "null.smoke", True, True),
        ("*.smoke", "app.null.app-smoke", True, False),
        ("*rootfs", "base.file.rootfs", True, True),  # gobwas: * crosses dots
        ("file.rootfs", "base.file.rootfs", True, False),
        ("vm-?", "vm-a", True, True),
        ("vm-[ab]", "vm-c", True, False),
        ("{a,b}.x", "b.x", True, True),
        ("gen-*", "gen-a", False, False),  # legacy JSON names builders exactly
    ],
)
def test_only_matching(pattern: str, name: str, globs: bool, expected: bool) -> None:
    assert matches(pattern, name, globs=globs) is expected


def test_every_file_input_kind(tmp_path: Path) -> None:
    _write(tmp_path, {
        "t.pkr.hcl": (
            'source "qemu" "vm" {\n  http_directory = "http"\n  floppy_files = ["floppy/*.cfg"]\n'
            '  cd_files = ["cd/seed"]\n  iso_url = "https://example.test/x.iso"\n}\n'
            'source "lxc" "c" {\n  config_file = "./files/lxc.conf"\n}\n'
            'source "amazon-ebs" "a" {\n  user_data_file = "ud.sh"\n}\n'
            'source "azure-arm" "z" {\n  custom_data_file = "cd.yml"\n}\n'
            'source "file" "f" {\n  source = "src.txt"\n  target = "out.txt"\n}\n'
            'build {\n  sources = ["source.qemu.vm", "source.lxc.c", "source.amazon-ebs.a", "source.azure-arm.z",'
            ' "source.file.f"]\n'
            '  provisioner "ansible" {\n    playbook_file = "ansible/site.yml"\n    roles_path = "ansible/roles"\n'
            '    ansible_env_vars = ["ANSIBLE_CONFIG=ansible/ansible.cfg", "X=-o y"]\n'
            '    extra_arguments = ["--extra-vars", "@ansible/extra.yml"]\n  }\n'
            '  provisioner "file" {\n    source = "upload"\n    destination = "/tmp"\n  }\n'
            '  provisioner "file" {\n    direction = "download"\n    source = "/remote"\n    destination = "got"\n  }\n'
            '  provisioner "shell-local" {\n    inline = ["./local/run.sh a", "bash -e local/b.sh", "sh -c \'x.sh\'",'
            ' "mkdir -p out && FOO=1 sudo python3 local/c.py > out/log", "echo hi"]\n  }\n'
            '  provisioner "shell" {\n    inline = ["./local/remote-only.sh"]\n  }\n'
            '  post-processor "vagrant" {\n    include = ["box/info.json"]\n    vagrantfile_template = "Vagrantfile.tpl"\n  }\n'
            '  post-processor "shell-local" {\n    inline = ["./local/pp.sh"]\n  }\n}\n'),
        "floppy/a.cfg": "", "floppy/b.cfg": "", "local/run.sh": "", "local/b.sh": "", "local/c.py": "",
        "local/remote-only.sh": "", "local/pp.sh": "", "ansible/ansible.cfg": "", "ansible/extra.yml": "",
    })
    r = _resolve(tmp_path, "t.pkr.hcl")
    assert _inputs(r, tmp_path) == {
        "http", "floppy/a.cfg", "floppy/b.cfg", "cd/seed", "files/lxc.conf", "ud.sh", "cd.yml", "src.txt",
        "ansible/site.yml", "ansible/roles", "ansible/ansible.cfg", "ansible/extra.yml", "upload",
        "local/run.sh", "local/b.sh", "local/c.py", "local/pp.sh", "box/info.json", "Vagrantfile.tpl",
    }
    assert r.unresolved == ()


def test_computed_paths_are_named_with_their_expression(tmp_path: Path) -> None:
    _write(tmp_path, {"t.pkr.hcl": (
        'variable "dir" {\n  type = string\n}\n'
        'locals {\n  seed = templatefile("${path.root}/seed.tpl", {})\n  other = file(var.dir)\n}\n'
        'source "null" "s" {\n  communicator = "none"\n}\n'
        'build {\n  sources = ["source.null.s"]\n'
        '  provisioner "shell-local" {\n    scripts = ["a.sh", "${var.dir}/b.sh"]\n  }\n'
        '  provisioner "shell-local" {\n    environment_vars = ["ID=${build.ID}"]\n    inline = ["echo ${build.ID}"]\n  }\n}\n')})
    r = _resolve(tmp_path, "t.pkr.hcl")
    assert _inputs(r, tmp_path) == {"a.sh", "seed.tpl"}  # templatefile() is not in 1.6.6, its file is hashed
    assert set(r.unresolved) == {'provisioner shell-local scripts = "${var.dir}/b.sh"', "file() of var.dir (not set)"}


def test_pkr_json_strings_are_templates(tmp_path: Path) -> None:
    doc = {
        "variable": {"name": {"type": "string", "default": "golden"}},
        "locals": {"banner": '${file("files/banner.txt")}'},
        "source": {"file": {"motd": {"source": "${path.root}/files/motd.txt", "target": "o/${var.name}"}}},
        "build": {"sources": ["source.file.motd"],
                  "provisioner": [{"shell-local": {"scripts": ["${path.root}/scripts/\"q\".sh"]}}],
                  "post-processor": [{"manifest": {"output": "${path.root}/out/${var.name}.json"}}]},
    }
    _write(tmp_path, {"image/g.pkr.json": json.dumps(doc)})
    r = _resolve(tmp_path, "image")
    assert _inputs(r, tmp_path) == {"image/files/banner.txt", "image/files/motd.txt", 'image/scripts/"q".sh'}
    assert r.attrs["file.motd"]["target"] == "o/golden"
    assert r.manifest_outputs == ("image/out/golden.json",)  # where the template's manifest lands


def test_legacy_json_user_vars_template_dir_env_and_build_name(tmp_path: Path) -> None:
    doc = {
        "variables": {"box": "{{env `BOX`}}", "preseed": "p.cfg", "name": "gen-deb12-x64", "need": None,
                      "pw": "{{env `PW`}}"},
        "sensitive-variables": ["pw"],
        "builders": [
            {"type": "qemu", "name": "{{user `name`}}", "floppy_files": ["http/{{user `preseed`}}"],
             "http_directory": "http", "iso_url": "https://x.test/{{user `need`}}.iso",
             "iso_checksum": "sha256:{{user `need`}}"},
            {"type": "qemu", "name": "other", "http_directory": "elsewhere"},
        ],
        "provisioners": [
            {"type": "shell", "scripts": ["{{template_dir}}/s/{{user `preseed`}}.sh"]},
            {"type": "shell", "only": ["other"], "script": "not-this.sh"},
            {"type": "shell", "script": "{{user `pw`}}.sh"},
        ],
        "post-processors": [[
            {"type": "vagrant", "vagrantfile_template": "tpl/{{split build_name \"-\" 1}}.rb",
             "include": ["tpl/info.json"], "output": "{{.Provider}}.box"},
            "checksum",
        ]],
    }
    _write(tmp_path, {"tpl/t.json": json.dumps(doc), "vars.json": json.dumps({"need": "x"})})
    info = analyze(tmp_path / "tpl" / "t.json", workdir=tmp_path)
    r = resolve(info, var_files=[tmp_path / "vars.json"], only=["gen-deb12-x64"], hidden={"pw"},
                env={"BOX": "1.0", "PKR_VAR_need": "ignored by legacy"}, root=tmp_path)
    assert r.selected == ("gen-deb12-x64",)
    assert _inputs(r, tmp_path) == {"http/p.cfg", "http", "tpl/s/p.cfg.sh", "tpl/deb12.rb", "tpl/info.json"}
    assert r.unresolved == ("provisioner shell script = {{user `pw`}}.sh",)
    assert r.env_reads == {"BOX": "1.0", "PW": None}
    assert r.attrs["gen-deb12-x64"]["iso_checksum"] == "sha256:x"
    assert resolve(info, only=["gen-*"], env={}).unmatched_only == ("gen-*",)  # no globs in legacy JSON


def test_unparsed_templates_name_everything(tmp_path: Path) -> None:
    from hybridcore.packer.templates import unparsed

    _write(tmp_path, {"t.pkr.hcl": "\ufeffsource {", "v.pkrvars.hcl": 'hybridcore_provisioners = ["x"]\n'})
    info = unparsed(tmp_path / "t.pkr.hcl", workdir=tmp_path)
    r = resolve(info, var_files=[tmp_path / "v.pkrvars.hcl"], only=["anything"],
                env={"PKR_VAR_a": "1", "OTHER": "2"})
    assert r.unresolved == ("everything the template names (hybridcore could not parse it)",)
    assert r.unmatched_only == ()  # unknown: Packer decides
    assert r.env_reads == {"PKR_VAR_a": "1"}
    assert r.var_origins == {"hybridcore_provisioners": str(tmp_path / "v.pkrvars.hcl")}


def test_secret_values_never_reach_the_parse_cache(tmp_path: Path) -> None:
    _write(tmp_path, {
        "t/t.pkr.hcl": ('variable "pw" {\n  sensitive = true\n  default = "Literal-S3cret-1"\n}\n'
                        'variable "tok" {\n  sensitive = true\n}\nvariable "dir" {\n  default = "d"\n}\n'
                        'source "null" "s" {\n  communicator = "none"\n}\n'
                        'build {\n  sources = ["source.null.s"]\n'
                        '  provisioner "shell-local" {\n    script = "${var.dir}/x.sh"\n  }\n}\n'),
        "v.pkrvars.hcl": 'tok = "VarFile-S3cret-2"\ndir = "scripts"\n',
        "given.pkrvars.hcl": 'given = "Given-S3cret-3"\n',
    })
    cache = tmp_path / "cache"
    info = analyze(tmp_path / "t", workdir=tmp_path, cache_dir=cache)
    r = resolve(info, var_files=[tmp_path / "v.pkrvars.hcl", tmp_path / "given.pkrvars.hcl"], hidden={"given"},
                env={}, root=tmp_path, cache_dir=cache)
    assert _inputs(r, tmp_path) == {"scripts/x.sh"}  # the plain value from the var file is used
    kept = "".join(p.read_text() for p in (cache / "templates").iterdir())
    assert "scripts" in kept
    for secret in ("Literal-S3cret-1", "VarFile-S3cret-2", "Given-S3cret-3"):
        assert secret not in kept
