"""HCL2 expressions, evaluated far enough to know which files a template names.

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
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["Env", "ExprError", "Unknown", "compile_expr", "compile_template", "evaluate_raw", "is_unknown",
           "to_text"]


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

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_BINARY = [("||",), ("&&",), ("==", "!="), ("<=", ">=", "<", ">"), ("+", "-"), ("*", "/", "%")]


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


def _binary_node(op: str, left: Callable[[Env], Any], right: Callable[[Env], Any]) -> Callable[[Env], Any]:
    return lambda env: _binary(op, left(env), right(env))


def _index(coll: Any, key: Any) -> Any:
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


# --------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    # -- scanning --------------------------------------------------------------------------------

    def ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "#" or s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end + 1
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = n if end < 0 else end + 2
            else:
                return

    def at(self, token: str) -> bool:
        self.ws()
        return self.s.startswith(token, self.i)

    def take(self, token: str) -> bool:
        if self.at(token):
            self.i += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise ExprError(f"expected {token!r} at {self.i} in {self.s!r}")

    def ident(self) -> str | None:
        self.ws()
        m = _IDENT.match(self.s, self.i)
        if m is None:
            return None
        self.i = m.end()
        return m.group()

    def keyword(self, word: str) -> bool:
        self.ws()
        m = _IDENT.match(self.s, self.i)
        if m is not None and m.group() == word:
            self.i = m.end()
            return True
        return False

    # -- expressions -----------------------------------------------------------------------------

    def expr(self) -> Node:
        cond = self.binary(0)
        if self.take("?"):
            yes = self.expr()
            self.expect(":")
            no = self.expr()

            def conditional(env: Env) -> Any:
                c = cond(env)
                if isinstance(c, Unknown):
                    return c
                if not isinstance(c, bool):
                    return Unknown("a condition that is not a bool")
                return yes(env) if c else no(env)

            return conditional
        return cond

    def binary(self, level: int) -> Node:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            self.ws()
            op = next((o for o in _BINARY[level] if self.s.startswith(o, self.i)), None)
            # "=>" and "=" are not comparisons; "<<" would be a heredoc
            if op is None or self.s.startswith(("=>", "<<"), self.i):
                return left
            self.i += len(op)
            right = self.binary(level + 1)
            left = _binary_node(op, left, right)

    def unary(self) -> Node:
        if self.take("!"):
            inner = self.unary()
            return lambda env: (lambda v: v if isinstance(v, Unknown) else
                                (not v if isinstance(v, bool) else Unknown("! of a non-bool")))(inner(env))
        if self.at("-") and not self.s.startswith("->", self.i):
            self.i += 1
            inner = self.unary()
            return lambda env: _binary("-", 0, inner(env))
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at(".*") or self.at("[*]"):
                self.i += 2 if self.s.startswith(".*", self.i) else 3
                node = self.splat(node)
            elif self.at("."):
                self.i += 1
                self.ws()
                m = _NUMBER.match(self.s, self.i)
                if m is not None and m.group().isdigit():
                    self.i = m.end()
                    key: Any = int(m.group())
                else:
                    key = self.ident()
                    if key is None:
                        raise ExprError(f"expected an attribute name at {self.i} in {self.s!r}")
                node = (lambda base, k: lambda env: _index(base(env), k))(node, key)
            elif self.at("["):
                self.i += 1
                key_node = self.expr()
                self.expect("]")
                node = (lambda base, k: lambda env: _index(base(env), k(env)))(node, key_node)
            else:
                return node

    def splat(self, base: Node) -> Node:
        # Attribute and index steps after a splat apply to every element.
        steps: list[Callable[[Any, Env], Any]] = []
        while True:
            if self.at(".") and not self.at(".*"):
                self.i += 1
                name = self.ident()
                steps.append((lambda k: lambda v, env: _index(v, k))(name))
            elif self.at("[") and not self.at("[*]"):
                self.i += 1
                key = self.expr()
                self.expect("]")
                steps.append((lambda k: lambda v, env: _index(v, k(env)))(key))
            else:
                break

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

    def primary(self) -> Node:
        self.ws()
        if self.i >= len(self.s):
            raise ExprError(f"unexpected end of {self.s!r}")
        c = self.s[self.i]
        if c == '"':
            self.i += 1
            return self.template('"')
        if self.s.startswith("<<", self.i):
            return self.heredoc()
        if c == "(":
            self.i += 1
            inner = self.expr()
            self.expect(")")
            return inner
        if c == "[":
            self.i += 1
            return self.tuple_or_for()
        if c == "{":
            self.i += 1
            return self.object_or_for()
        m = _NUMBER.match(self.s, self.i)
        if m is not None:
            self.i = m.end()
            text = m.group()
            value: Any = float(text) if any(ch in text for ch in ".eE") else int(text)
            return lambda env: value
        name = self.ident()
        if name is None:
            raise ExprError(f"unexpected {c!r} at {self.i} in {self.s!r}")
        if name in ("true", "false"):
            truth = name == "true"
            return lambda env: truth
        if name == "null":
            return lambda env: None
        if self.at("("):
            return self.call(name)
        return lambda env: env.names[name] if name in env.names else Unknown(name)

    def call(self, name: str) -> Node:
        self.expect("(")
        args: list[Node] = []
        expand = False
        while not self.take(")"):
            args.append(self.expr())
            if self.take("..."):
                expand = True
            if not self.take(","):
                self.expect(")")
                break

        def run(env: Env) -> Any:
            values = [a(env) for a in args]
            if expand and values:
                last = values.pop()
                if isinstance(last, Unknown):
                    return last
                values.extend(last if isinstance(last, list | tuple) else [last])
            return env.funcs.call(name, values)

        return run

    def tuple_or_for(self) -> Node:
        if self.keyword("for"):
            return self.for_expr("]")
        items: list[Node] = []
        while not self.take("]"):
            items.append(self.expr())
            if not self.take(","):
                self.expect("]")
                break
        return lambda env: [item(env) for item in items]

    def object_or_for(self) -> Node:
        if self.keyword("for"):
            return self.for_expr("}")
        pairs: list[tuple[Node, Node]] = []
        while not self.take("}"):
            self.ws()
            start = self.i
            name = self.ident()
            if name is not None and (self.at("=") or self.at(":")) and not self.at("=="):
                key: Node = (lambda k: lambda env: k)(name)
            else:
                self.i = start
                key = self.expr()
            if not self.take("="):
                self.expect(":")
            pairs.append((key, self.expr()))
            self.take(",")

        def run(env: Env) -> Any:
            out: dict[str, Any] = {}
            for k, v in pairs:
                text = to_text(k(env))
                if isinstance(text, Unknown):
                    return text
                out[text] = v(env)
            return out

        return run

    def for_expr(self, close: str) -> Node:
        first = self.ident()
        second = self.ident() if self.take(",") else None
        if first is None or not self.keyword("in"):
            raise ExprError(f"malformed for expression in {self.s!r}")
        coll = self.expr()
        self.expect(":")
        key_node = self.expr() if close == "}" else None
        if key_node is not None:
            self.expect("=>")
        value_node = self.expr()
        grouped = self.take("...")
        cond = self.expr() if self.keyword("if") else None
        self.expect(close)
        k_name, v_name = (first, second) if second is not None else (None, first)

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

    # -- templates -------------------------------------------------------------------------------

    def template(self, close: str | None) -> Node:
        """A template up to ``close`` (``None``: the end of the text), with escapes when quoted."""
        parts: list[str | Node] = []
        buf: list[str] = []
        directive = False
        s, n = self.s, len(self.s)
        while True:
            if self.i >= n:
                if close is not None:
                    raise ExprError(f"unterminated string in {self.s!r}")
                break
            c = s[self.i]
            if close is not None and c == close:
                self.i += 1
                break
            if s.startswith(("$${", "%%{"), self.i):
                buf.append(s[self.i + 1: self.i + 3])
                self.i += 3
            elif s.startswith("${", self.i):
                self.i += 2
                self.take("~")
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self.expr())
                self.take("~")
                self.expect("}")
            elif s.startswith("%{", self.i):
                directive = True  # if/for directives: the text is only known at run time
                end = s.find("}", self.i)
                self.i = n if end < 0 else end + 1
            elif c == "\\" and close is not None and self.i + 1 < n:
                nxt = s[self.i + 1]
                if nxt == "u" and self.i + 6 <= n:
                    buf.append(chr(int(s[self.i + 2: self.i + 6], 16)))
                    self.i += 6
                else:
                    buf.append(_ESCAPES.get(nxt, "\\" + nxt))
                    self.i += 2
            else:
                buf.append(c)
                self.i += 1
        if buf:
            parts.append("".join(buf))
        if directive:
            text = s
            return lambda env: Unknown(f"template directive in {text}")
        if len(parts) == 1 and callable(parts[0]):
            only = parts[0]
            # A lone interpolation keeps its value's type (HCL: "${x}" is x).
            return only
        frozen = tuple(parts)

        def run(env: Env) -> Any:
            out: list[str] = []
            for part in frozen:
                text = part if isinstance(part, str) else to_text(part(env))
                if isinstance(text, Unknown):
                    return text
                out.append(text)
            return "".join(out)

        return run

    def heredoc(self) -> Node:
        m = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n").match(self.s, self.i)
        if m is None:
            raise ExprError(f"malformed heredoc in {self.s!r}")
        end = re.compile(r"^[ \t]*" + re.escape(m.group(2)) + r"[ \t]*$", re.M).search(self.s, m.end())
        if end is None:
            raise ExprError(f"unterminated heredoc in {self.s!r}")
        body = self.s[m.end(): end.start()]
        self.i = end.end()
        if m.group(1):
            lines = body.split("\n")
            indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
            body = "\n".join(ln[indent:] for ln in lines)
        return _Parser(body).whole_template()

    def whole_template(self) -> Node:
        return self.template(None)


# --------------------------------------------------------------------------------------- entry points


def compile_expr(text: str) -> Node:
    """A bare expression (what python-hcl2 wraps in ``${...}``)."""
    p = _Parser(text)
    node = p.expr()
    p.ws()
    if p.i != len(text):
        raise ExprError(f"unexpected text at {p.i} in {text!r}")
    return node


def compile_template(text: str) -> Node:
    """Template text without quotes (a ``.pkr.json`` string, or a quoted HCL string's inside)."""
    return _Parser(text).whole_template()


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
