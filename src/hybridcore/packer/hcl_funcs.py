"""The functions of Packer's HCL2 templates, as far as a path can depend on them.

Pure functions (strings, collections, paths) are evaluated here; the ones that touch the machine
(``file``, ``fileset``, ``templatefile``, ``abspath``, ``env``) go through a :class:`MachineIO`
that resolves paths the way Packer does and records what was read. Anything else, or a call whose
arguments are not known, gives :class:`~hybridcore.packer.hcl_expr.Unknown`.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from hybridcore.packer.hcl_values import Unknown, to_text

__all__ = ["Functions", "MachineIO"]


class MachineIO(Protocol):
    def read(self, path: str) -> str | Unknown: ...
    def fileset(self, base: str, pattern: str) -> list[str] | Unknown: ...
    def templatefile(self, path: str) -> Unknown: ...
    def abspath(self, path: str) -> str: ...
    def env(self, name: str) -> str | Unknown: ...
    def unknown_call(self, name: str, why: str) -> None: ...


def _texts(args: list[Any]) -> list[str] | Unknown:
    out: list[str] = []
    for a in args:
        t = to_text(a)
        if isinstance(t, Unknown):
            return t
        out.append(t)
    return out


def _lists(args: list[Any]) -> list[list[Any]] | Unknown:
    for a in args:
        if isinstance(a, Unknown):
            return a
        if not isinstance(a, list | tuple):
            return Unknown("a list argument that is not a list")
    return [list(a) for a in args]


def _format(fmt: str, *values: Any) -> str | Unknown:
    out: list[str] = []
    i, n, k = 0, len(fmt), 0
    while i < n:
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 < n and fmt[i + 1] == "%":
            out.append("%")
            i += 2
            continue
        j = i + 1
        while j < n and not fmt[j].isalpha():
            j += 1
        if j >= n or k >= len(values) or fmt[j] not in "sdvqf" or j > i + 1:
            return Unknown(f"format({fmt!r})")
        value = values[k]
        k += 1
        text = json.dumps(value) if fmt[j] == "q" else to_text(value)
        if isinstance(text, Unknown):
            return text
        out.append(text)
        i = j + 1
    return "".join(out)


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend(_flatten(list(item)) if isinstance(item, list | tuple) else [item])
    return out


def _strings(fn: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    def run(args: list[Any]) -> Any:
        texts = _texts(args)
        return texts if isinstance(texts, Unknown) else fn(*texts)
    return run


def _lookup(args: list[Any]) -> Any:
    if len(args) not in (2, 3) or not isinstance(args[0], Mapping):
        return Unknown("lookup()")
    key = to_text(args[1])
    if isinstance(key, Unknown):
        return key
    if key in args[0]:
        return args[0][key]
    return args[2] if len(args) == 3 else Unknown(f"lookup of missing key {key!r}")


def _element(args: list[Any]) -> Any:
    if len(args) != 2 or not isinstance(args[0], list | tuple) or not args[0] or not isinstance(args[1], int):
        return Unknown("element()")
    return args[0][args[1] % len(args[0])]


def _merge(args: list[Any]) -> Any:
    out: dict[str, Any] = {}
    for a in args:
        if not isinstance(a, Mapping):
            return Unknown("merge() of a non-object")
        out.update(a)
    return out


def _coalesce(args: list[Any]) -> Any:
    for a in args:
        if isinstance(a, Unknown):
            return a
        if a is not None and a != "":
            return a
    return Unknown("coalesce() of nothing")


def _join(args: list[Any]) -> Any:
    if not args or not isinstance(args[0], str):
        return Unknown("join()")
    lists = _lists(args[1:])
    if isinstance(lists, Unknown):
        return lists
    texts = _texts([x for lst in lists for x in lst])
    return texts if isinstance(texts, Unknown) else args[0].join(texts)


def _sort(args: list[Any]) -> Any:
    lists = _lists(args)
    if isinstance(lists, Unknown) or len(lists) != 1:
        return Unknown("sort()")
    texts = _texts(lists[0])
    return texts if isinstance(texts, Unknown) else sorted(texts)


def _length(args: list[Any]) -> Any:
    value = args[0] if len(args) == 1 else None
    return len(value) if isinstance(value, str | list | tuple | Mapping) else Unknown("length()")


def _replace(s: str, old: str, new: str) -> Any:
    if len(old) > 1 and old.startswith("/") and old.endswith("/"):
        return Unknown("replace() with a regular expression")
    return s.replace(old, new)


def _keys(args: list[Any]) -> Any:
    return sorted(args[0]) if len(args) == 1 and isinstance(args[0], Mapping) else Unknown("keys()")


def _values(args: list[Any]) -> Any:
    if len(args) == 1 and isinstance(args[0], Mapping):
        return [args[0][k] for k in sorted(args[0])]
    return Unknown("values()")


def _contains(args: list[Any]) -> Any:
    if len(args) != 2 or not isinstance(args[0], list | tuple) or isinstance(args[1], Unknown):
        return Unknown("contains()")
    return args[1] in args[0]


def _split(sep: str, s: str) -> list[str]:
    return s.split(sep) if sep else list(s)


_PURE: Mapping[str, Callable[[list[Any]], Any]] = {
    "basename": _strings(lambda p: posixpath.basename(p.rstrip("/")) if p.rstrip("/") else p),
    "dirname": _strings(lambda p: posixpath.dirname(p.rstrip("/")) or "."),
    "lower": _strings(str.lower),
    "upper": _strings(str.upper),
    "title": _strings(str.title),
    "trimspace": _strings(str.strip),
    "trim": _strings(lambda s, cut: s.strip(cut)),
    "trimprefix": _strings(lambda s, p: s.removeprefix(p)),
    "trimsuffix": _strings(lambda s, p: s.removesuffix(p)),
    "replace": _strings(_replace),
    "split": _strings(_split),
    "format": lambda args: _format(*args) if args and isinstance(args[0], str) else Unknown("format()"),
    "substr": lambda args: (args[0][args[1]:args[1] + args[2] if args[2] >= 0 else None]
                            if len(args) == 3 and isinstance(args[0], str) and isinstance(args[1], int)
                            and isinstance(args[2], int) else Unknown("substr()")),
    "join": _join,
    "concat": lambda args: (lambda ls: ls if isinstance(ls, Unknown) else [x for lst in ls for x in lst])(
        _lists(args)),
    "flatten": lambda args: (lambda ls: ls if isinstance(ls, Unknown) else _flatten(ls[0]))(_lists(args)),
    "compact": lambda args: (lambda ls: ls if isinstance(ls, Unknown) else [x for x in ls[0] if x])(
        _lists(args)),
    "distinct": lambda args: (lambda ls: ls if isinstance(ls, Unknown) else
                              [x for i, x in enumerate(ls[0]) if x not in ls[0][:i]])(_lists(args)),
    "reverse": lambda args: (lambda ls: ls if isinstance(ls, Unknown) else ls[0][::-1])(_lists(args)),
    "sort": _sort,
    "length": _length,
    "element": _element,
    "lookup": _lookup,
    "merge": _merge,
    "keys": _keys,
    "values": _values,
    "contains": _contains,
    "coalesce": _coalesce,
    "coalescelist": lambda args: next((a for a in args if isinstance(a, Unknown) or a), Unknown("coalescelist()")),
    "tostring": lambda args: to_text(args[0]) if len(args) == 1 else Unknown("tostring()"),
    "tolist": lambda args: list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple)
    else Unknown("tolist()"),
    "toset": lambda args: (lambda ls: ls if isinstance(ls, Unknown) else
                           [x for i, x in enumerate(ls[0]) if x not in ls[0][:i]])(_lists(args)),
    "tomap": lambda args: dict(args[0]) if len(args) == 1 and isinstance(args[0], Mapping) else Unknown("tomap()"),
    "tonumber": lambda args: args[0] if len(args) == 1 and isinstance(args[0], int | float) else Unknown("tonumber()"),
    "pathexpand": _strings(lambda p: os.path.expanduser(p) if p.startswith("~") else p),
}


_READS = frozenset({"file", "fileset", "templatefile"})


class Functions:
    """The function table one evaluation uses; machine access goes through ``io``."""

    def __init__(self, io: MachineIO) -> None:
        self.io = io

    def call(self, name: str, args: list[Any]) -> Any:
        if name == "try":
            return next((a for a in args if not isinstance(a, Unknown)), Unknown("try()"))
        if name == "can":
            return Unknown("can()") if not args or isinstance(args[0], Unknown) else True
        for a in args:
            if isinstance(a, Unknown) and name not in ("coalesce", "coalescelist"):
                if name in _READS:  # a file read that cannot be resolved: named, not skipped
                    self.io.unknown_call(name, a.why)
                return a
        try:
            return self._call(name, args)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            return Unknown(f"{name}()")

    def _call(self, name: str, args: list[Any]) -> Any:
        io = self.io
        if name == "file" and len(args) == 1 and isinstance(args[0], str):
            return io.read(args[0])
        if name == "templatefile" and args and isinstance(args[0], str):
            return io.templatefile(args[0])
        if name == "fileset" and len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], str):
            return io.fileset(args[0], args[1])
        if name == "abspath" and len(args) == 1 and isinstance(args[0], str):
            return io.abspath(args[0])
        if name == "env" and len(args) == 1 and isinstance(args[0], str):
            return io.env(args[0])
        fn = _PURE.get(name)
        return fn(args) if fn is not None else Unknown(f"{name}()")
