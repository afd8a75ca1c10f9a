"""One template or var file, summarised into JSON-able form (what ``templates`` caches per file).

HCL2 values stay source text as python-hcl2 prints them with quotes kept: ``"\\"x\\""`` is the
literal ``x``, ``"${var.x}"`` an expression. A ``.pkr.json`` file is HCL2 in JSON syntax, where every
string is a template: its strings are turned into the same quoted form, so one evaluator reads both.
Legacy JSON templates keep their Go-template strings as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hybridcore.errors import TemplateError
from hybridcore.packer.hcl_expr import literal, unquote

PARSER_VERSION = "5"  # bump when the summary's shape changes, to invalidate cached summaries
_ENV_DEFAULT = re.compile(r'^\$\{\s*env\(\s*"([^"]+)"\s*\)\s*\}$')
_LEGACY_ENV = re.compile(r"^\{\{\s*env\s+`([^`]+)`\s*\}\}$")
_EMPTY: tuple[Any, ...] = ('""', None, [], {})


def summarise(path: Path, data: bytes, kind: str) -> dict[str, Any]:
    if kind == "vars" or path.name.endswith((".pkrvars.hcl", ".pkrvars.json")):
        return _var_file(path, data)
    if kind == "json" or path.name.endswith(".pkr.json"):
        raw = _json(path, data)
        return _legacy(raw) if kind == "json" else _hcl(_quoted(raw))
    return _hcl(_parse_hcl(path, data))


def sensitive_defaults(path: Path, data: bytes, kind: str) -> dict[str, Any]:
    """The literal defaults of sensitive variables, as values: secrets the wrapper must redact.

    Kept out of :func:`summarise` on purpose: summaries are cached on disk, these never are."""
    if kind == "json":
        raw = _json(path, data)
        names = set(raw.get("sensitive-variables") or [])
        variables = raw.get("variables") or {}
        return {n: v for n, v in variables.items() if n in names and v and not _LEGACY_ENV.match(str(v))}
    raw = _quoted(_json(path, data)) if path.name.endswith(".pkr.json") else _parse_hcl(path, data)
    out: dict[str, Any] = {}
    for name, attrs in _labelled(raw, "variable"):
        if isinstance(attrs, dict) and attrs.get("sensitive") is True and "default" in attrs:
            default = attrs["default"]
            if default not in _EMPTY and not (isinstance(default, str) and _ENV_DEFAULT.match(default)):
                out[name] = literal(default)
    return out


def _json(path: Path, data: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise TemplateError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise TemplateError(f"{path}: a template must be a JSON object")
    return raw


def _parse_hcl(path: Path, data: bytes) -> dict[str, Any]:
    import hcl2  # lazily: lark is slow to import

    try:
        opts = hcl2.SerializationOptions(
            with_comments=False, explicit_blocks=False, strip_string_quotes=False, preserve_heredocs=False
        )
        raw = hcl2.loads(data.decode("utf-8"), serialization_options=opts)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TemplateError(f"{path}: cannot parse HCL: {first}") from None
    if not isinstance(raw, dict):
        raise TemplateError(f"{path}: cannot parse HCL")
    return raw


def _var_file(path: Path, data: bytes) -> dict[str, Any]:
    if path.name.endswith(".json"):
        return {"assignments": _json(path, data), "json": True}
    raw = _parse_hcl(path, data)
    return {"assignments": {unquote(k): v for k, v in raw.items()}, "json": False}


def _quoted(value: Any) -> Any:
    """HCL JSON syntax: every string is a template; give it the quoted form python-hcl2 uses."""
    if isinstance(value, str):
        return _quote_template(value)
    if isinstance(value, dict):
        return {k: _quoted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quoted(v) for v in value]
    return value


def _quote_template(text: str) -> str:
    """``a"b ${f("x")}`` -> ``"a\\"b ${f("x")}"``: escapes outside interpolations, none inside them."""
    out = ['"']
    i, n = 0, len(text)
    while i < n:
        if text.startswith(("$${", "%%{"), i):
            out.append(text[i:i + 3])
            i += 3
        elif text.startswith(("${", "%{"), i):
            j = _interpolation_end(text, i + 2)
            out.append(text[i:j])
            i = j
        else:
            out.append({"\\": "\\\\", '"': '\\"', "\n": "\\n"}.get(text[i], text[i]))
            i += 1
    return "".join(out) + '"'


def _interpolation_end(text: str, i: int) -> int:
    """The index after the ``}`` that closes an interpolation opened just before ``i``."""
    depth, n = 1, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _items(raw: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    value = raw.get(key, [])
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            yield item


def _labelled(raw: Mapping[str, Any], key: str) -> Iterator[tuple[str, Any]]:
    """``block "label" { ... }``: (label, body) pairs."""
    for item in _items(raw, key):
        for label, body in item.items():
            for one in body if isinstance(body, list) else [body]:
                yield unquote(label), one


def _text(value: Any) -> str | None:
    """A literal's text (``"\\"x\\""`` -> ``x``); ``None`` for an expression or a non-string."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value:
        return unquote(value)
    return None


def _hcl(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"variables": [], "locals": {}, "sources": {}, "builds": [], "data": [],
                           "required_plugins": False, "required_version": None, "manifest_outputs": []}
    for name, attrs in _labelled(raw, "variable"):
        if isinstance(attrs, dict):
            out["variables"].append(_variable(name, attrs))
    for block in _items(raw, "variables"):
        # `variables { name = default }`: one variable per attribute, never sensitive.
        out["variables"].extend(_variable(unquote(name), {"default": default}) for name, default in block.items())
    for item in _items(raw, "locals"):
        out["locals"].update({unquote(k): v for k, v in item.items()})
    for name, attrs in _labelled(raw, "local"):
        if isinstance(attrs, dict) and "expression" in attrs:
            out["locals"][name] = attrs["expression"]
    for stype, named in _labelled(raw, "source"):
        for sname, attrs in named.items() if isinstance(named, dict) else []:
            for one in attrs if isinstance(attrs, list) else [attrs]:
                if isinstance(one, dict):
                    out["sources"][f"{stype}.{unquote(sname)}"] = one
    for dtype, named in _labelled(raw, "data"):
        out["data"].extend(f"{dtype}.{unquote(n)}" for n in (named if isinstance(named, dict) else {}))
    for build in _items(raw, "build"):
        out["builds"].append(_build(build, out["manifest_outputs"]))
    for packer in _items(raw, "packer"):
        rv = _text(packer.get("required_version"))
        out["required_version"] = out["required_version"] or rv
        out["required_plugins"] = out["required_plugins"] or bool(packer.get("required_plugins"))
    return out


def _build(build: Mapping[str, Any], manifests: list[str]) -> dict[str, Any]:
    sources = build.get("sources", [])
    refs = [unquote(s) for s in (sources if isinstance(sources, list) else [sources]) if isinstance(s, str)]
    fill = [[ref, attrs] for ref, attrs in _labelled(build, "source") if isinstance(attrs, dict)]
    provisioners = [[t, a] for t, a in _labelled(build, "provisioner") if isinstance(a, dict)]
    pps: list[tuple[str, dict[str, Any]]] = [(t, a) for t, a in _labelled(build, "post-processor")
                                             if isinstance(a, dict)]
    for chain in _items(build, "post-processors"):
        pps.extend((t, a) for t, a in _labelled(chain, "post-processor") if isinstance(a, dict))
    for ptype, attrs in pps:
        if ptype == "manifest":
            output = attrs.get("output", "")
            manifests.append(output if isinstance(output, str) else "")
    return {"name": _text(build.get("name")), "sources": refs, "fill": fill, "provisioners": provisioners,
            "post_processors": [list(p) for p in pps]}


def _variable(name: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    default = attrs.get("default")
    m = _ENV_DEFAULT.match(default) if isinstance(default, str) else None
    env_default = m.group(1) if m else None
    vtype = attrs.get("type")
    if isinstance(vtype, str):
        vtype = vtype[2:-1] if vtype.startswith("${") and vtype.endswith("}") else unquote(vtype)
    return {
        "name": name,
        "sensitive": attrs.get("sensitive") is True,
        "env_default": env_default,
        "has_literal_default": "default" in attrs and env_default is None and default not in _EMPTY,
        "type": vtype if isinstance(vtype, str) else None,
        # A sensitive literal default is a secret: not copied into the cached summary (an env() default
        # names only the variable it reads).
        "default": default if attrs.get("sensitive") is not True or env_default else None,
        "has_default": "default" in attrs,
        "default_kind": _kind(default) if "default" in attrs else None,
    }


def _kind(value: Any) -> str | None:
    """The type Packer infers for an untyped variable from its default (it decides how a value given
    on the command line is read: as text, or as an HCL expression)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "map" if isinstance(value, dict) else None


def _legacy(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"variables": [], "sources": {}, "builders": [], "provisioners": [],
                           "post_processors": [], "manifest_outputs": []}
    sensitive = set(raw.get("sensitive-variables", []) or [])
    for name, default in (raw.get("variables") or {}).items():
        m = _LEGACY_ENV.match(default) if isinstance(default, str) else None
        env = m.group(1) if m else None
        out["variables"].append({"name": name, "sensitive": name in sensitive, "env_default": env,
                                 "has_literal_default": bool(default) and env is None, "type": None,
                                 "default": default if name not in sensitive or env else None,
                                 "has_default": default is not None,
                                 "default_kind": "string"})
    for i, builder in enumerate(raw.get("builders") or []):
        if isinstance(builder, dict):
            btype = str(builder.get("type", ""))
            name = builder.get("name") or btype or str(i)
            out["sources"][f"{btype}.{name}"] = builder
            out["builders"].append([str(name), btype, builder])
    for prov in raw.get("provisioners") or []:
        if isinstance(prov, dict):
            out["provisioners"].append([str(prov.get("type", "")), prov])
    for item in raw.get("post-processors") or []:
        for pp in item if isinstance(item, list) else [item]:
            attrs = {"type": pp} if isinstance(pp, str) else pp
            if isinstance(attrs, dict):
                out["post_processors"].append([str(attrs.get("type", "")), attrs])
                if attrs.get("type") == "manifest":
                    output = attrs.get("output", "")
                    out["manifest_outputs"].append(output if isinstance(output, str) else "")
    return out
