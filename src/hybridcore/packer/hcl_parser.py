"""A recursive-descent parser for HCL2 expressions and templates, building ``hcl_values`` nodes.

It reads the text python-hcl2 prints for an attribute (HCL's native syntax: literals, operators,
conditionals, function calls, indexes, splats, ``for`` expressions, ``${}``/``%{}`` templates, heredocs)
and returns a closure that evaluates it in an :class:`~hybridcore.packer.hcl_values.Env`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hybridcore.packer.hcl_values import (
    Env,
    ExprError,
    Node,
    Unknown,
    binary_node,
    call_node,
    conditional_node,
    for_node,
    index,
    not_node,
    object_node,
    splat_node,
    template_node,
)

__all__ = ["Parser"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_BINARY = [("||",), ("&&",), ("==", "!="), ("<=", ">=", "<", ">"), ("+", "-"), ("*", "/", "%")]


class Parser:
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

            return conditional_node(cond, yes, no)
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
            left = binary_node(op, left, right)

    def unary(self) -> Node:
        if self.take("!"):
            return not_node(self.unary())
        if self.at("-") and not self.s.startswith("->", self.i):
            self.i += 1
            return binary_node("-", lambda env: 0, self.unary())
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
                node = (lambda base, k: lambda env: index(base(env), k))(node, key)
            elif self.at("["):
                self.i += 1
                key_node = self.expr()
                self.expect("]")
                node = (lambda base, k: lambda env: index(base(env), k(env)))(node, key_node)
            else:
                return node

    def splat(self, base: Node) -> Node:
        steps: list[Callable[[Any, Env], Any]] = []
        while True:
            if self.at(".") and not self.at(".*"):
                self.i += 1
                name = self.ident()
                steps.append((lambda k: lambda v, env: index(v, k))(name))
            elif self.at("[") and not self.at("[*]"):
                self.i += 1
                key = self.expr()
                self.expect("]")
                steps.append((lambda k: lambda v, env: index(v, k(env)))(key))
            else:
                return splat_node(base, steps)

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
        return call_node(name, args, expand)

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
        return object_node(pairs)

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
        return for_node(k_name, v_name, coll, key_node, value_node, grouped, cond)

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
                directive = True
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
        return template_node(parts, directive, s)

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
        return Parser(body).whole_template()

    def whole_template(self) -> Node:
        return self.template(None)
