"""Legacy JSON templates' ``{{ ... }}`` strings, rendered far enough to know which files they name.

Packer 1.6.6 renders legacy values with Go's text/template and its own functions. What a path can
depend on before the build starts is known here: ``user``, ``env``, ``template_dir`` (absolute),
``pwd``, ``build_name``, ``build_type``, ``split``, ``lower``, ``upper``, ``packer_version``.
Everything else (``{{ .HTTPIP }}``, ``timestamp``, ``uuid``, ``vault``...) is only known at run time:
the whole string is then :class:`~hybridcore.packer.hcl_expr.Unknown`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from hybridcore.packer.hcl_values import Unknown

__all__ = ["render"]

# Compiled on first use: only a legacy JSON template's {{ }} actions are tokenised.
@functools.cache
def _token() -> re.Pattern[str]:
    return re.compile(r'\s*(?:(`[^`]*`)|("(?:[^"\\]|\\.)*")|(-?\d+)|([A-Za-z_][A-Za-z0-9_]*)'
                      r'|(\.[A-Za-z0-9_.]*)|([|()]))')


def render(text: str, funcs: Mapping[str, Callable[..., Any]]) -> str | Unknown:
    """``text`` with every action evaluated by ``funcs`` (name -> callable on the arguments)."""
    if "{{" not in text:
        return text
    out: list[str] = []
    i = 0
    while True:
        start = text.find("{{", i)
        if start < 0:
            out.append(text[i:])
            return "".join(out)
        end = text.find("}}", start + 2)
        if end < 0:
            return Unknown(text)
        out.append(text[i:start])
        action = text[start + 2: end].strip().strip("-").strip()
        value = _action(action, funcs)
        if isinstance(value, Unknown):
            return Unknown(text)
        out.append(value if isinstance(value, str) else str(value))
        i = end + 2


def _tokens(action: str) -> list[tuple[str, str]] | None:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(action):
        m = _token().match(action, pos)
        if m is None or m.end() == pos:
            return None if action[pos:].strip() else out
        pos = m.end()
        raw, dq, num, name, field, punct = m.groups()
        if raw is not None:
            out.append(("str", raw[1:-1]))
        elif dq is not None:
            out.append(("str", json.loads(dq) if "\\" in dq else dq[1:-1]))
        elif num is not None:
            out.append(("num", num))
        elif name is not None:
            out.append(("name", name))
        elif field is not None:
            out.append(("field", field))
        else:
            out.append(("punct", punct))
    return out


def _action(action: str, funcs: Mapping[str, Callable[..., Any]]) -> Any:
    tokens = _tokens(action)
    if not tokens:
        return Unknown(action)
    pos = 0

    def command(upto: set[str]) -> Any:
        nonlocal pos
        items: list[Any] = []
        while pos < len(tokens) and tokens[pos] != ("punct", "|") and tokens[pos][1] not in upto:
            kind, value = tokens[pos]
            pos += 1
            if kind == "punct" and value == "(":
                items.append(pipeline({")"}))
                pos += 1
            elif kind == "str":
                items.append(value)
            elif kind == "num":
                items.append(int(value))
            elif kind == "field":
                items.append(Unknown(value))  # {{ .HTTPIP }} and friends: run-time data
            else:
                items.append(("call", value))
        return items

    def call(items: list[Any], piped: list[Any]) -> Any:
        if not items:
            return Unknown(action)
        head, args = items[0], [_value(a, funcs) for a in items[1:]] + piped
        if isinstance(head, tuple):
            fn = funcs.get(head[1])
            if fn is None:
                return Unknown(head[1])
            if any(isinstance(a, Unknown) for a in args):
                return next(a for a in args if isinstance(a, Unknown))
            try:
                return fn(*args)
            except (TypeError, ValueError, IndexError):
                return Unknown(head[1])
        return head if not args else Unknown(action)

    def pipeline(upto: set[str]) -> Any:
        nonlocal pos
        result = call(command(upto), [])
        while pos < len(tokens) and tokens[pos] == ("punct", "|"):
            pos += 1
            result = call(command(upto), [result])
        return result

    return pipeline(set())


def _value(item: Any, funcs: Mapping[str, Callable[..., Any]]) -> Any:
    if isinstance(item, tuple):  # a bare function name as an argument is a call without arguments
        fn = funcs.get(item[1])
        if fn is None:
            return Unknown(item[1])
        try:
            return fn()
        except (TypeError, ValueError, IndexError):
            return Unknown(item[1])
    return item


def split(text: str, sep: str, index: int) -> str:
    """Packer's ``{{split s sep i}}``: the i-th part of ``s`` split on ``sep``."""
    return text.split(sep)[index]
