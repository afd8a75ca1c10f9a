"""HCL2 expressions, evaluated far enough to know which files a template names.

python-hcl2 hands over each attribute as source text: a quoted template (``"${path.root}/x.sh"``) or a
bare expression wrapped in ``${...}`` (``${concat(local.a, ["b"])}``). This module turns that text into
closures (``hcl_parser``) and evaluates them in a scope of variables, locals and ``path.*``
(``hcl_values``). Whatever cannot be known before Packer runs (``build.ID``, an unset variable, a
directive, an unknown function) evaluates to :class:`Unknown`, and so does everything computed from
it: callers then name the attribute as not hashed rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hybridcore.packer.hcl_parser import Parser
from hybridcore.packer.hcl_values import Env, ExprError, Node, Unknown, is_unknown, to_text

__all__ = ["Env", "ExprError", "Unknown", "compile_expr", "compile_template", "evaluate_raw", "is_unknown",
           "literal", "to_text", "unquote"]


def compile_expr(text: str) -> Node:
    """A bare expression (what python-hcl2 wraps in ``${...}``)."""
    p = Parser(text)
    node = p.expr()
    p.ws()
    if p.i != len(text):
        raise ExprError(f"unexpected text at {p.i} in {text!r}")
    return node


def compile_template(text: str) -> Node:
    """Template text without quotes (a ``.pkr.json`` string, or a quoted HCL string's inside)."""
    return Parser(text).whole_template()


def _compile_raw(text: str) -> Node:
    if text.startswith(('"', "<<")):
        try:
            return compile_expr(text)  # a quoted template is an expression of its own
        except ExprError:
            pass
    if text.startswith("${") and text.endswith("}"):
        try:
            return compile_expr(text[2:-1])
        except ExprError:
            pass  # "${a}-${b}" unquoted: a template after all
    if "${" in text:
        return compile_template(text)
    return lambda env: text


_CACHE: dict[str, Node] = {}


def evaluate_raw(raw: Any, env: Env) -> Any:
    """A value as python-hcl2 gives it (quotes kept), evaluated; containers element by element.

    Strings are HCL source text: ``"..."`` a template, ``${...}`` an expression, anything else
    literal text. Text that does not parse evaluates to :class:`Unknown`.
    """
    if isinstance(raw, str):
        node = _CACHE.get(raw)
        if node is None:
            try:
                node = _compile_raw(raw)
            except (ExprError, ValueError, IndexError, RecursionError):
                node = (lambda text: lambda env: Unknown(text))(raw)
            if len(_CACHE) < 20_000:
                _CACHE[raw] = node
        try:
            return node(env)
        except RecursionError:
            return Unknown(raw)
    if isinstance(raw, Mapping):
        return {unquote(str(k)): evaluate_raw(v, env) for k, v in raw.items()}
    if isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        return [evaluate_raw(v, env) for v in raw]
    return raw


def literal(raw: Any) -> Any:
    """A value as python-hcl2 gives it, evaluated with no variables and no functions."""
    return evaluate_raw(raw, Env({}, _NoFunctions()))


def unquote(label: str) -> str:
    """A block label or object key as python-hcl2 keeps it (``"\\"shell\\""``), without its quotes."""
    if len(label) >= 2 and label[0] == label[-1] == '"':
        try:
            value = compile_expr(label)(Env({}, _NoFunctions()))
        except ExprError:
            value = None
        return value if isinstance(value, str) else label[1:-1]
    return label


class _NoFunctions:
    def call(self, name: str, args: list[Any]) -> Any:
        return Unknown(f"{name}()")
