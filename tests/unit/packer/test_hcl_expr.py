"""HCL2 expressions as python-hcl2 prints them, evaluated far enough to find file names."""

from __future__ import annotations

from typing import Any

import pytest

from hybridcore.packer.hcl_expr import Env, Unknown, evaluate_raw, is_unknown, unquote
from hybridcore.packer.hcl_funcs import Functions

pytestmark = pytest.mark.unit


class FakeMachine:
    def __init__(self) -> None:
        self.read_paths: list[str] = []
        self.env_names: list[str] = []

    def read(self, path: str) -> Any:
        self.read_paths.append(path)
        return f"<{path}>"

    def fileset(self, base: str, pattern: str) -> Any:
        return [f"{base}:{pattern}:a", f"{base}:{pattern}:b"]

    def templatefile(self, path: str) -> Any:
        self.read_paths.append(path)
        return Unknown("templatefile")

    def abspath(self, path: str) -> str:
        return "/work/" + path

    def env(self, name: str) -> Any:
        self.env_names.append(name)
        return {"HOME": "/root"}.get(name, "")

    def unknown_call(self, name: str, why: str) -> None:
        self.read_paths.append(f"{name}?{why}")


def _env(machine: FakeMachine | None = None) -> Env:
    names = {
        "var": {"os": "ubuntu", "x": "X", "n": 3, "list": ["a", "b"], "m": {"key": "v"}, "none": None,
                "secret": Unknown("var.secret (sensitive)")},
        "local": {"m": {"a": "x", "b": "y"}},
        "path": {"root": "tpl", "cwd": "/work"},
    }
    return Env(names, Functions(machine or FakeMachine()))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"literal"', "literal"),
        ('"a\\"b\\\\c\\n"', 'a"b\\c\n'),  # a quoted string's escapes
        ('"$${not} %%{this}"', "${not} %{this}"),  # escaped interpolation and directive
        ('"${var.x}-${local.m["a"]}"', "X-x"),
        ('"${var.n}"', 3),  # a lone interpolation keeps its type
        ('"n=${var.n}"', "n=3"),
        ("${local.m.a}", "x"),
        ("${var.list[1]}", "b"),
        ("${var.list.0}", "a"),  # legacy attribute-style index
        ("${var.m.key}", "v"),
        ("${5 + 3 * 2}", 11),
        ("${(5 + 3) * 2}", 16),
        ("${10 / 4}", 2.5),
        ("${!true}", False),
        ("${-var.n}", -3),
        ("${var.n >= 3 && var.os != \"debian\"}", True),
        ("${var.none == null ? \"a\" : \"b\"}", "a"),
        ('${var.os == "ubuntu" || var.os == "debian" ? ["${path.root}/s/${var.os}.sh"] : []}', ["tpl/s/ubuntu.sh"]),
        ('${concat(["a.sh"], var.os == "ubuntu" ? ["b.sh"] : [], [for s in ["x", "y"] : "${path.root}/${s}.sh"])}',
         ["a.sh", "b.sh", "tpl/x.sh", "tpl/y.sh"]),
        ('${[for k, v in local.m : "${k}=${v}" if k != "a"]}', ["b=y"]),
        ('${{for k, v in local.m : v => k}}', {"x": "a", "y": "b"}),
        ("${var.list[*]}", ["a", "b"]),
        ('${{a = 1, "b" = var.x, c: "z"}}', {"a": 1, "b": "X", "c": "z"}),
        ('${split(":", "a:b:c")[1]}', "b"),
        ('${join(",", ["a", "b"], ["c"])}', "a,b,c"),
        ('${format("%s-%d-%%", "a", 5)}', "a-5-%"),
        ('${lookup({a = "1"}, "b", "z")}', "z"),
        ('${element(["a", "b"], 3)}', "b"),
        ('${basename(dirname("x/y/z.sh"))}', "y"),
        ('${trimsuffix(upper("abc.sh"), ".SH")}', "ABC"),
        ('${replace("a-b-c", "-", "/")}', "a/b/c"),
        ('${length(var.list) + length("abc")}', 5),
        ('${merge({a = 1}, {b = 2})}', {"a": 1, "b": 2}),
        ('${coalesce("", "x")}', "x"),
        ('${compact(["a", "", "b"])}', ["a", "b"]),
        ('${distinct(concat(["a"], ["a", "b"]))}', ["a", "b"]),
        ('${flatten([["a"], ["b", ["c"]]])}', ["a", "b", "c"]),
        ('${sort(["b", "a"])}', ["a", "b"]),
        ('${keys({b = 1, a = 2})}', ["a", "b"]),
        ('${contains(var.list, "b")}', True),
        ('${try(var.nope, var.secret, "fallback")}', "fallback"),
        ("${abspath(path.root)}", "/work/tpl"),
        ('${file("${path.root}/x.txt")}', "<tpl/x.txt>"),
        ('${fileset(path.root, "*.sh")}', ["tpl:*.sh:a", "tpl:*.sh:b"]),
        ('${env("HOME")}', "/root"),
        ('${concat(var.list...)}', Unknown),  # expansion of a list of strings: not lists
        ("<<EOF\nline ${var.x}\nEOF\n", "line X\n"),
        (7, 7),
        (None, None),
        (True, True),
        (['"a"', "${var.x}"], ["a", "X"]),
        ({'"k"': "${var.x}"}, {"k": "X"}),
    ],
)
def test_evaluates(raw: Any, expected: Any) -> None:
    got = evaluate_raw(raw, _env())
    if expected is Unknown:
        assert is_unknown(got), got
    else:
        assert got == expected


@pytest.mark.parametrize(
    "raw",
    [
        "${var.secret}",  # sensitive values are never evaluated
        '"${var.secret}/x.sh"',  # and neither is anything built from them
        "${build.ID}",  # known only while Packer runs
        "${upper(build.ID)}",
        "${var.missing}",
        '"a %{ if true }b%{ endif }"',  # directives
        "${nosuchfunction(1)}",
        "${local.m.zzz}",
        "${var.list[7]}",
        "${1 +}",  # not an expression at all
        '${var.secret == "x" ? "a" : "b"}',
    ],
)
def test_unknowns(raw: Any) -> None:
    assert is_unknown(evaluate_raw(raw, _env()))


def test_file_functions_go_through_the_machine_and_only_when_reached() -> None:
    machine = FakeMachine()
    env = _env(machine)
    evaluate_raw('${var.os == "debian" ? file("a.txt") : file("b.txt")}', env)
    evaluate_raw('${templatefile("t.tpl", {a = 1})}', env)
    evaluate_raw('${env("X")}', env)
    evaluate_raw("${file(var.secret)}", env)
    assert machine.read_paths == ["b.txt", "t.tpl", "file?var.secret (sensitive)"]
    assert machine.env_names == ["X"]


def test_unquote_labels_and_keys() -> None:
    assert unquote('"shell-local"') == "shell-local"
    assert unquote("plain") == "plain"
    assert unquote('"a\\"b"') == 'a"b'
