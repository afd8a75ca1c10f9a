"""What the wrapper needs to know about a template before Packer runs.

Variables (which are sensitive, which default to ``env("X")``), sources and their attributes, the
provisioner assets they reference, and the ``packer {}`` block. HCL2 goes through python-hcl2; legacy
JSON templates through ``json``. Parsing HCL with lark is slow (~0.3 s a file), so each file's
analysis is cached under ``<cache>/templates/`` keyed by the blake3 digest of its bytes.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridcore.errors import TemplateError, TemplateNotFound
from hybridcore.files import atomic_write_bytes, private_dir

_ENV_DEFAULT = re.compile(r'^\$\{\s*env\(\s*"([^"]+)"\s*\)\s*\}$')
_PATH_ROOT = re.compile(r"\$\{\s*path\.root\s*\}")
_VAR_REF = re.compile(r"\$\{\s*var\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}")
_PARSER_VERSION = "3"  # bump when the normalised shape below changes, to invalidate the cache

# Provisioner attributes that name local files or folders the build reads.
_PROVISIONER_ASSET_KEYS = ("script", "scripts", "playbook_file", "playbook_dir", "galaxy_file",
                           "inventory_file", "source", "sources")
_SOURCE_ASSET_KEYS = ("http_directory", "floppy_files", "floppy_dirs", "cd_files")


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    sensitive: bool = False
    env_default: str | None = None  # X when the default is env("X")
    has_literal_default: bool = False
    type: str | None = None
    default_kind: str | None = None  # "string" | "number" | "bool" | "list" | "map" | None (no default)


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    path: Path                      # the file or folder given
    workdir: Path                   # where Packer runs (path.root)
    kind: str                       # "hcl2" | "json"
    files: tuple[Path, ...]         # every file Packer loads for it
    variables: Mapping[str, Variable] = field(default_factory=dict)
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)   # "type.name" -> attrs
    assets: tuple[Path, ...] = ()   # local files/folders referenced by provisioners and sources
    unresolved_assets: tuple[str, ...] = ()
    required_plugins: bool = False
    required_version: str | None = None
    manifest_outputs: tuple[str, ...] = ()   # raw `output` of manifest post-processors ("" = default)

    def builder_type(self, build_name: str) -> str:
        """Map a build name as Packer prints it (``file.example`` / ``example``) to its source type."""
        if build_name in self.sources:
            return build_name.split(".", 1)[0]
        for key in self.sources:
            if key.split(".", 1)[1] == build_name:
                return key.split(".", 1)[0]
        return build_name.split(".", 1)[0] if "." in build_name else ""

    def source_attrs(self, build_name: str) -> Mapping[str, Any]:
        if build_name in self.sources:
            return self.sources[build_name]
        for key, attrs in self.sources.items():
            if key.split(".", 1)[1] == build_name:
                return attrs
        return {}

    def sensitive_names(self) -> frozenset[str]:
        return frozenset(n for n, v in self.variables.items() if v.sensitive)


def template_files(path: Path) -> tuple[str, tuple[Path, ...]]:
    """The files Packer 1.6+ loads for ``path``: a folder's top-level HCL files, or the one file."""
    if not path.exists():
        raise TemplateNotFound(f"template not found: {path}")
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir()
            if p.is_file() and p.name.endswith((".pkr.hcl", ".pkr.json", ".auto.pkrvars.hcl", ".auto.pkrvars.json"))
        )
        if not any(p.name.endswith((".pkr.hcl", ".pkr.json")) for p in files):
            raise TemplateNotFound(
                f"no *.pkr.hcl or *.pkr.json template in {path}",
                hint="point the target at a template file or a folder holding *.pkr.hcl files",
            )
        return "hcl2", tuple(files)
    if path.name.endswith((".pkr.hcl", ".pkr.json")):
        return "hcl2", (path,)
    if path.suffix == ".json":
        return "json", (path,)
    if path.suffix == ".hcl":
        return "hcl2", (path,)
    raise TemplateNotFound(
        f"not a Packer template: {path}", hint="templates end in .pkr.hcl, .pkr.json or .json"
    )


def analyze(path: Path, *, cache_dir: Path | None = None) -> TemplateInfo:
    path = path.resolve()
    kind, files = template_files(path)
    workdir = path if path.is_dir() else path.parent
    docs = [_load_cached(f, kind, cache_dir) for f in files]
    variables: dict[str, Variable] = {}
    sources: dict[str, Mapping[str, Any]] = {}
    raw_assets: list[str] = []
    required_plugins = False
    required_version: str | None = None
    manifests: list[str] = []
    for doc in docs:
        manifests.extend(doc.get("manifest_outputs", []))
        variables.update({v["name"]: Variable(**v) for v in doc["variables"]})
        sources.update(doc["sources"])
        raw_assets.extend(doc["assets"])
        required_plugins = required_plugins or doc["required_plugins"]
        required_version = required_version or doc["required_version"]
    assets, unresolved = _resolve_assets(raw_assets, workdir)
    return TemplateInfo(
        path=path, workdir=workdir, kind=kind, files=files, variables=variables, sources=sources,
        assets=assets, unresolved_assets=unresolved, required_plugins=required_plugins,
        required_version=required_version, manifest_outputs=tuple(manifests),
    )


def unparsed(path: Path) -> TemplateInfo:
    """The little that is known of a template that does not parse: its files."""
    path = path.resolve()
    kind, files = template_files(path)
    return TemplateInfo(path=path, workdir=path if path.is_dir() else path.parent, kind=kind, files=files)


def _resolve_assets(raw: list[str], workdir: Path) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    found: dict[Path, None] = {}
    unresolved: list[str] = []
    for item in raw:
        # No variables: the analysis is cached per file, before any values are known.
        text = interpolate(item, workdir, {})
        if text is None or "{{" in text or "://" in text:
            unresolved.append(item)
            continue
        p = Path(text)
        found[(p if p.is_absolute() else workdir / p).resolve()] = None
    return tuple(found), tuple(unresolved)


def _load_cached(path: Path, kind: str, cache_dir: Path | None) -> dict[str, Any]:
    data = path.read_bytes()
    cache_file: Path | None = None
    if cache_dir is not None:
        import blake3  # lazily: only needed when caching

        key = blake3.blake3(data + kind.encode() + _PARSER_VERSION.encode()).hexdigest()
        cache_file = cache_dir / "templates" / f"{key}.json"
        with contextlib.suppress(OSError, ValueError):  # unreadable or not JSON: parse again
            cached = json.loads(cache_file.read_text())
            if isinstance(cached, dict):
                return cached
    doc = _summarise(path, data, kind)
    if cache_file is not None:
        with contextlib.suppress(OSError):  # the cache is an optimisation only
            private_dir(cache_file.parent)
            atomic_write_bytes(cache_file, json.dumps(doc).encode(), durable=False)
    return doc


def _summarise(path: Path, data: bytes, kind: str) -> dict[str, Any]:
    if path.name.endswith(".pkrvars.json"):
        return _empty_summary()
    if kind == "json" or path.name.endswith(".pkr.json"):
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise TemplateError(f"{path}: invalid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise TemplateError(f"{path}: a template must be a JSON object")
        return _summarise_legacy_json(raw) if kind == "json" else _summarise_hcl(raw)
    if path.name.endswith((".pkrvars.hcl", ".pkrvars.json")):
        return _empty_summary()
    import hcl2  # lazily: lark is slow to import

    try:
        text = data.decode("utf-8")
        opts = hcl2.SerializationOptions(
            with_comments=False, explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=False
        )
        raw = hcl2.loads(text, serialization_options=opts)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TemplateError(f"{path}: cannot parse HCL: {first}") from None
    return _summarise_hcl(raw)


def _empty_summary() -> dict[str, Any]:
    return {"variables": [], "sources": {}, "assets": [], "required_plugins": False,
            "required_version": None, "manifest_outputs": []}


def _blocks(raw: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    value = raw.get(key, [])
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            yield item


def _summarise_hcl(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = _empty_summary()
    for block in _blocks(raw, "variable"):
        for name, attrs in block.items():
            if isinstance(attrs, dict):
                out["variables"].append(_variable(name, attrs))
    for block in _blocks(raw, "variables"):
        # `variables { name = default }`: one variable per attribute, never sensitive.
        out["variables"].extend(_variable(name, {"default": default}) for name, default in block.items())
    for block in _blocks(raw, "source"):
        for stype, named in block.items():
            for sname, attrs in (named or {}).items() if isinstance(named, dict) else []:
                if isinstance(attrs, dict):
                    out["sources"][f"{stype}.{sname}"] = _plain(attrs)
                    out["assets"].extend(_asset_values(attrs, _SOURCE_ASSET_KEYS))
    for build in _blocks(raw, "build"):
        for block in _blocks(build, "source"):
            # build-level "source" blocks refine a top-level source; their assets count too
            for named in block.values():
                if isinstance(named, dict):
                    out["assets"].extend(_asset_values(named, _SOURCE_ASSET_KEYS))
        for prov in _blocks(build, "provisioner"):
            for ptype, attrs in prov.items():
                if not isinstance(attrs, dict):
                    continue
                if ptype == "file" and attrs.get("direction") == "download":
                    continue
                out["assets"].extend(_asset_values(attrs, _PROVISIONER_ASSET_KEYS))
        for pp in _post_processors(build):
            for ptype, attrs in pp.items():
                if ptype == "manifest" and isinstance(attrs, dict):
                    output = attrs.get("output", "")
                    out["manifest_outputs"].append(output if isinstance(output, str) else "")
    for packer in _blocks(raw, "packer"):
        rv = packer.get("required_version")
        if isinstance(rv, str):
            out["required_version"] = rv
        if packer.get("required_plugins"):
            out["required_plugins"] = True
    return out


def _post_processors(build: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from _blocks(build, "post-processor")
    for chain in _blocks(build, "post-processors"):
        yield from _blocks(chain, "post-processor")


def _summarise_legacy_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = _empty_summary()
    sensitive = set(raw.get("sensitive-variables", []) or [])
    for name, default in (raw.get("variables") or {}).items():
        env = None
        if isinstance(default, str):
            m = re.match(r"^\{\{\s*env\s+`([^`]+)`\s*\}\}$", default)
            env = m.group(1) if m else None
        out["variables"].append({"name": name, "sensitive": name in sensitive, "env_default": env,
                                 "has_literal_default": bool(default) and env is None, "type": None,
                                 "default_kind": "string"})
    for i, builder in enumerate(raw.get("builders") or []):
        if isinstance(builder, dict):
            btype = str(builder.get("type", ""))
            out["sources"][f"{btype}.{builder.get('name', btype) or i}"] = _plain(builder)
            out["assets"].extend(_asset_values(builder, _SOURCE_ASSET_KEYS))
    for prov in raw.get("provisioners") or []:
        if isinstance(prov, dict) and not (prov.get("type") == "file" and prov.get("direction") == "download"):
            out["assets"].extend(_asset_values(prov, _PROVISIONER_ASSET_KEYS))
    return out


def _variable(name: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    default = attrs.get("default")
    env_default = None
    if isinstance(default, str):
        m = _ENV_DEFAULT.match(default)
        env_default = m.group(1) if m else None
    literal = "default" in attrs and env_default is None and default not in ("", None, [], {})
    vtype = attrs.get("type")
    return {
        "name": name,
        "sensitive": attrs.get("sensitive") is True,
        "env_default": env_default,
        "has_literal_default": literal,
        "type": vtype if isinstance(vtype, str) else None,
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


def _asset_values(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for key in keys:
        value = attrs.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                found.append(item)
    return found


def _plain(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Keep JSON-able attribute values; nested blocks come through as lists of dicts."""
    plain: dict[str, Any] = json.loads(json.dumps(attrs, default=str))
    return plain


def interpolate(value: object, workdir: Path | None, variables: Mapping[str, object]) -> str | None:
    """A template attribute value as text, with ``${path.root}`` and ``${var.NAME}`` substituted.

    The one resolver for template values. ``value`` is what the template analysis holds: a string
    (python-hcl2 gives expressions as ``"${...}"``; older versions keep a literal's quotes, which are
    dropped) or a number. ``variables`` are the known non-secret values; ``workdir`` is ``path.root``
    (``None``: unknown). Anything still unresolved -- another expression, an unknown variable, a
    boolean, a list -- gives ``None``: callers treat the value as unknown rather than guess.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return None
    text = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if "${" not in text:
        return text
    if workdir is not None:
        text = _PATH_ROOT.sub(lambda _: str(workdir), text)

    def var(m: re.Match[str]) -> str:
        found = variables.get(m.group(1))
        return found if isinstance(found, str) else m.group(0)  # unknown: caught just below

    text = _VAR_REF.sub(var, text)
    # One pass: a variable's value is literal text to Packer, so one holding "${" stays unknown too.
    return None if "${" in text else text
