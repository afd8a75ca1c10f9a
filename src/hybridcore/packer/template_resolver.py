"""The shared machinery of template evaluation: path resolution, build selection, what was read.

:class:`Resolver` is one evaluation's state and the machine access of the template's functions
(``hcl_funcs.MachineIO``): ``file()``/``fileset()``/``templatefile()`` resolve a relative path from
``path.root`` (Packer 1.6.6), every other path from the folder Packer runs in; what they touch is
recorded as an input. ``template_eval`` (HCL2) and ``template_legacy`` (legacy JSON) drive it.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hybridcore.packer import gotemplate
from hybridcore.packer.hcl_expr import Unknown
from hybridcore.packer.hcl_funcs import Functions
from hybridcore.packer.template_inputs import inline_scripts, path_words
from hybridcore.packer.templates import Block, BuildSpec, Resolution, TemplateInfo

__all__ = ["NoMachine", "Resolver", "applies", "legacy_render", "matches", "result_of", "scan_commands",
           "select_builds", "settle"]

_READ_LIMIT = 4 << 20   # file() contents beyond this are not needed to find paths
_NAME_LIMIT = 160


def matches(pattern: str, name: str, *, globs: bool) -> bool:
    """Whether an ``-only``/``-except`` entry picks build ``name`` (HCL2: gobwas globs; legacy: exact)."""
    if not globs or not any(c in pattern for c in "*?[{"):
        return pattern == name
    return re.fullmatch(_glob_regex(pattern), name) is not None


def _glob_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        elif c == "{":
            end = pattern.find("}", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                out.append("(?:" + "|".join(_glob_regex(p) for p in pattern[i + 1:end].split(",")) + ")")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class Resolver:
    """One evaluation; also the machine access of the template's functions (``hcl_funcs.MachineIO``)."""

    def __init__(self, info: TemplateInfo, env: Mapping[str, str], root: Path | None) -> None:
        self.info = info
        self.environ = env
        self.workdir = str(info.workdir)
        self.root = os.path.normpath(str(root)) if root is not None else None
        self.inputs: dict[str, None] = {}
        self.unresolved: dict[str, None] = {}
        self.env_reads: dict[str, str | None] = {}
        self.manifests: dict[str, None] = {}
        self.funcs = Functions(self)

    # -- machine access (what file()/fileset()/env() do) -------------------------------------------

    def _abs(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.workdir, os.path.expanduser(path)))

    def _from_root(self, path: str) -> str:
        # Packer 1.6.6 joins a relative file()/fileset() path onto path.root, then reads from the cwd.
        return self._abs(path if os.path.isabs(path) else os.path.join(self.info.path_root, path))

    def read(self, path: str) -> str | Unknown:
        full = self._from_root(path)
        self.inputs[full] = None
        try:
            with open(full, "rb") as fh:
                return fh.read(_READ_LIMIT).decode("utf-8", "replace")
        except OSError:
            return Unknown(f"file({path!r})")

    def templatefile(self, path: str) -> Unknown:
        self.inputs[self._from_root(path)] = None
        return Unknown(f"templatefile({path!r})")

    def fileset(self, base: str, pattern: str) -> list[str] | Unknown:
        folder = self._from_root(base)
        found = sorted(p for p in glob.glob(pattern, root_dir=folder, recursive=True, include_hidden=True)
                       if os.path.isfile(os.path.join(folder, p)))
        for rel in found:
            self.inputs[os.path.normpath(os.path.join(folder, rel))] = None
        return found

    def abspath(self, path: str) -> str:
        return self._abs(path)

    def unknown_call(self, name: str, why: str) -> None:
        self.unresolved[f"{name}() of {why}"] = None

    def env(self, name: str) -> str:
        value = self.environ.get(name)
        self.env_reads[name] = value
        return value or ""

    # -- paths --------------------------------------------------------------------------------------

    def named(self, what: str, raw: Any) -> None:
        text = raw if isinstance(raw, str) else repr(raw)
        self.unresolved[f"{what} = {text if len(text) <= _NAME_LIMIT else text[:_NAME_LIMIT] + '…'}"] = None

    def add_paths(self, value: Any, raw: Any, what: str, *, globs: bool = False) -> None:
        if isinstance(value, Unknown):
            self.named(what, raw)
        elif isinstance(value, list | tuple):
            raws = raw if isinstance(raw, list | tuple) and len(raw) == len(value) else [raw] * len(value)
            for v, r in zip(value, raws, strict=True):
                self.add_paths(v, r, what, globs=globs)
        elif isinstance(value, Mapping):
            for v in value.values():
                self.add_paths(v, raw, what, globs=globs)
        elif isinstance(value, str) and value and "://" not in value:
            if globs and any(c in value for c in "*?["):
                for hit in glob.glob(self._abs(value), recursive=True):
                    self.inputs[os.path.normpath(hit)] = None
            else:
                self.inputs[self._abs(value)] = None

    def add_existing(self, candidates: Iterator[str]) -> None:
        """Paths found inside commands: only real files of the project count."""
        for word in candidates:
            full = self._abs(word)
            inside = self.root is None or full == self.root or full.startswith(self.root + os.sep)
            if inside and os.path.exists(full):
                self.inputs[full] = None


def result_of(r: Resolver, builds: Mapping[str, BuildSpec], selected: Sequence[str], unmatched: Sequence[str],
            attrs: Mapping[str, Mapping[str, Any]], origins: Mapping[str, str]) -> Resolution:
    return Resolution(builds=builds, selected=tuple(selected), unmatched_only=tuple(unmatched),
                      inputs=tuple(Path(p) for p in r.inputs), unresolved=tuple(r.unresolved),
                      env_reads=dict(sorted(r.env_reads.items())), attrs=attrs, var_origins=origins,
                      manifest_outputs=tuple(r.manifests))


def select_builds(names: list[str], only: Sequence[str], except_: Sequence[str], *,
            globs: bool) -> tuple[list[str], list[str]]:
    picked = [n for n in names if not only or any(matches(o, n, globs=globs) for o in only)]
    picked = [n for n in picked if not any(matches(e, n, globs=globs) for e in except_)]
    unmatched = [o for o in only if not any(matches(o, n, globs=globs) for n in names)]
    return picked, unmatched


def applies(block: Block, name: str, evaluate: Any) -> bool:
    """A provisioner's or post-processor's ``only``/``except`` (exact names: ``type.name`` in HCL2)."""
    for key, keep_if_listed in (("only", True), ("except", False)):
        if key not in block.attrs:
            continue
        listed = evaluate(block.attrs[key])
        known = isinstance(listed, list) and all(isinstance(x, str) for x in listed)
        if known and (name in listed) != keep_if_listed:
            return False
    return True


def scan_commands(r: Resolver, btype: str, evaluated: Mapping[str, Any], raw: Mapping[str, Any]) -> None:
    """What a block runs or writes on the build host beyond its path attributes."""
    if btype == "manifest":  # where to look for the template's own manifest after a build
        output = evaluated.get("output", "")
        r.manifests[output if isinstance(output, str) else str(raw.get("output", ""))] = None
    if btype == "shell-local":
        inline = evaluated.get("inline")
        commands = [c for c in (inline if isinstance(inline, list) else [inline]) if isinstance(c, str)]
        if isinstance(evaluated.get("command"), str):
            commands.append(evaluated["command"])
        r.add_existing(inline_scripts(commands))
    for key in ("ansible_env_vars", "extra_arguments"):
        listed = evaluated.get(key)
        if isinstance(listed, list):
            r.add_existing(path_words(listed))


def settle(evaluated: Any, raw: Any) -> Any:
    """``evaluated`` with every unknown part put back as written (so later readers see it as unknown)."""
    if isinstance(evaluated, Unknown):
        return raw
    if isinstance(evaluated, Mapping) and isinstance(raw, Mapping) and len(evaluated) == len(raw):
        return {k: settle(v, rv) for (k, v), rv in zip(evaluated.items(), raw.values(), strict=True)}
    if isinstance(evaluated, list) and isinstance(raw, list) and len(evaluated) == len(raw):
        return [settle(v, rv) for v, rv in zip(evaluated, raw, strict=True)]
    return evaluated


class NoMachine:
    """Var files and given values are plain values: no file or environment access."""

    def read(self, path: str) -> Unknown:
        return Unknown(path)

    def fileset(self, base: str, pattern: str) -> Unknown:
        return Unknown(base)

    def templatefile(self, path: str) -> Unknown:
        return Unknown(path)

    def abspath(self, path: str) -> str:
        raise ValueError("no working folder here")

    def env(self, name: str) -> Unknown:
        return Unknown(name)

    def unknown_call(self, name: str, why: str) -> None:
        return None


def legacy_render(text: str, funcs: Mapping[str, Any]) -> str | Unknown:
    try:
        return gotemplate.render(text, funcs)
    except (ValueError, RecursionError):
        return Unknown(text)
