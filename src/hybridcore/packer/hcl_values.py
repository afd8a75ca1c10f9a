"""Values and evaluation nodes of HCL2 expressions (see ``hcl_expr`` for the entry points).

python-hcl2 hands over each attribute as source text: a quoted template (``"${path.root}/x.sh"``) or a
bare expression wrapped in ``${...}`` (``${concat(local.a, ["b"])}``). This module parses that text
(HCL's expression and template syntax: literals, operators, conditionals, function calls, indexes,
splats, ``for`` expressions, ``${}`` interpolation) into closures and evaluates them in a scope of
variables, locals and ``path.*``. Whatever cannot be known before Packer runs (``build.ID``, an unset
variable, a directive, an unknown function) evaluates to :class:`Unknown`, and so does everything
computed from it: callers then name the attribute as not hashed rather than guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["Env", "ExprError", "Functions", "Node", "Unknown", "binary_node", "call_node", "conditional_node",
           "for_node", "index", "is_unknown", "not_node", "object_node", "splat_node", "template_node", "to_text"]


class ExprError(Exception):
    """Text that is not an HCL expression (or one this evaluator does not understand)."""


class Unknown:
    """A value only Packer knows at run time; ``why`` names the expression for messages."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"Unknown({self.why!r})"


def is_unknown(value: object) -> bool:
    return isinstance(value, Unknown)


class Functions(Protocol):
    def call(self, name: str, args: list[Any]) -> Any: ...


class Env:
    """Names in scope (``var``, ``local``, ``path``, for-expression bindings) and the functions."""

    __slots__ = ("funcs", "names")

    def __init__(self, names: Mapping[str, Any], funcs: Functions) -> None:
        self.names = names
        self.funcs = funcs

    def child(self, bindings: Mapping[str, Any]) -> Env:
        return Env({**self.names, **bindings}, self.funcs)


Node = Callable[[Env], Any]



# --------------------------------------------------------------------------------------- values


def to_text(value: Any) -> str | Unknown:
    """A value as HCL turns it into template text (``Unknown`` for null, lists and objects)."""
    if isinstance(value, Unknown):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return Unknown("a null, list or object in a string")


def _number(value: Any) -> float | int | Unknown:
    if isinstance(value, bool):
        return Unknown("a bool as a number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return Unknown(f"{value!r} as a number")
        return int(f) if f.is_integer() and "." not in value else f
    return Unknown("not a number")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(a, b)
    return bool(a == b)


def _binary(op: str, a: Any, b: Any) -> Any:
    if isinstance(a, Unknown):
        return a
    if isinstance(b, Unknown):
        return b
    if op == "==":
        return _same(a, b)
    if op == "!=":
        return not _same(a, b)
    if op in ("&&", "||"):
        if not isinstance(a, bool) or not isinstance(b, bool):
            return Unknown(f"non-bool operand of {op}")
        return (a and b) if op == "&&" else (a or b)
    x, y = _number(a), _number(b)
    if isinstance(x, Unknown):
        return x
    if isinstance(y, Unknown):
        return y
    if op in ("<", "<=", ">", ">="):
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
    if op in ("/", "%") and y == 0:
        return Unknown("division by zero")
    result: float | int
    if op == "+":
        result = x + y
    elif op == "-":
        result = x - y
    elif op == "*":
        result = x * y
    elif op == "/":
        result = x / y
    else:
        result = math.fmod(x, y)
    return int(result) if isinstance(result, float) and result.is_integer() and op != "/" else result


def binary_node(op: str, left: Callable[[Env], Any], right: Callable[[Env], Any]) -> Callable[[Env], Any]:
    return lambda env: _binary(op, left(env), right(env))


def index(coll: Any, key: Any) -> Any:
    if isinstance(coll, Unknown):
        return coll
    if isinstance(key, Unknown):
        return key
    if isinstance(coll, Mapping):
        text = to_text(key)
        if isinstance(text, Unknown) or text not in coll:
            return Unknown(f"no key {key!r}")
        return coll[text]
    if isinstance(coll, list | tuple):
        n = _number(key)
        if isinstance(n, Unknown) or not float(n).is_integer() or not 0 <= int(n) < len(coll):
            return Unknown(f"no index {key!r}")
        return coll[int(n)]
    return Unknown("index into a value that is not a collection")


# --------------------------------------------------------------------------------------- nodes


def conditional_node(cond: Node, yes: Node, no: Node) -> Node:
    def run(env: Env) -> Any:
        c = cond(env)
        if isinstance(c, Unknown):
            return c
        if not isinstance(c, bool):
            return Unknown("a condition that is not a bool")
        return yes(env) if c else no(env)

    return run


def not_node(inner: Node) -> Node:
    def run(env: Env) -> Any:
        v = inner(env)
        if isinstance(v, Unknown):
            return v
        return not v if isinstance(v, bool) else Unknown("! of a non-bool")

    return run


def splat_node(base: Node, steps: list[Callable[[Any, Env], Any]]) -> Node:
    """``base[*].a.b``: attribute and index steps after a splat apply to every element."""
    def run(env: Env) -> Any:
        coll = base(env)
        if isinstance(coll, Unknown):
            return coll
        items = coll if isinstance(coll, list | tuple) else ([] if coll is None else [coll])
        out = []
        for item in items:
            for step in steps:
                item = step(item, env)
            out.append(item)
        return out

    return run


def call_node(name: str, args: list[Node], expand: bool) -> Node:
    def run(env: Env) -> Any:
        values = [a(env) for a in args]
        if expand and values:
            last = values.pop()
            if isinstance(last, Unknown):
                return last
            values.extend(last if isinstance(last, list | tuple) else [last])
        return env.funcs.call(name, values)

    return run


def object_node(pairs: list[tuple[Node, Node]]) -> Node:
    def run(env: Env) -> Any:
        out: dict[str, Any] = {}
        for k, v in pairs:
            text = to_text(k(env))
            if isinstance(text, Unknown):
                return text
            out[text] = v(env)
        return out

    return run


def for_node(k_name: str | None, v_name: str, coll: Node, key_node: Node | None, value_node: Node,
             grouped: bool, cond: Node | None) -> Node:
    """``[for k, v in coll : value if cond]`` and ``{for k, v in coll : key => value...}``."""
    def run(env: Env) -> Any:
        source = coll(env)
        if isinstance(source, Unknown):
            return source
        pairs = list(source.items()) if isinstance(source, Mapping) else list(enumerate(source or []))
        out_list: list[Any] = []
        out_map: dict[str, Any] = {}
        for k, v in pairs:
            scope = env.child({v_name: v, **({k_name: k} if k_name else {})})
            if cond is not None:
                keep = cond(scope)
                if isinstance(keep, Unknown):
                    return keep
                if not keep:
                    continue
            if key_node is None:
                out_list.append(value_node(scope))
                continue
            text = to_text(key_node(scope))
            if isinstance(text, Unknown):
                return text
            if grouped:
                out_map.setdefault(text, []).append(value_node(scope))
            else:
                out_map[text] = value_node(scope)
        return out_list if key_node is None else out_map

    return run


def template_node(parts: list[str | Node], directive: bool, text: str) -> Node:
    if directive:  # if/for directives: the text is only known at run time
        return lambda env: Unknown(f"template directive in {text}")
    first = parts[0] if len(parts) == 1 else None
    if first is not None and not isinstance(first, str):
        return first  # a lone interpolation keeps its value's type (HCL: "${x}" is x)
    frozen = tuple(parts)

    def run(env: Env) -> Any:
        out: list[str] = []
        for part in frozen:
            piece = part if isinstance(part, str) else to_text(part(env))
            if isinstance(piece, Unknown):
                return piece
            out.append(piece)
        return "".join(out)

    return run
