"""What the wrapper knows about a template before Packer runs: its files, variables, sources and builds.

HCL2 goes through python-hcl2 (string quotes kept, so a literal and an expression stay apart; see
``hcl_expr``), ``.pkr.json`` and legacy JSON through ``json``. Each file's summary is cached under
``<cache>/templates/`` keyed by the blake3 digest of its bytes (lark parses ~0.3 s a file). Values are
kept as source text here; ``template_eval`` evaluates them once the variables are known, and its
:class:`Resolution` (what the selected builds read, what stayed computed) rides on the
:class:`TemplateInfo` of a plan.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridcore.errors import TemplateError, TemplateNotFound
from hybridcore.files import atomic_write_bytes, private_dir
from hybridcore.packer.template_parse import PARSER_VERSION, sensitive_defaults, summarise

__all__ = ["Block", "BuildSpec", "Resolution", "TemplateInfo", "Variable", "analyze", "interpolate",
           "load_summary", "template_files", "unparsed"]


@dataclass(frozen=True, slots=True)
class Variable:
    """One variable a template declares, as the planner needs it."""

    name: str
    sensitive: bool = False
    env_default: str | None = None  # X when the default is env("X")
    has_literal_default: bool = False
    type: str | None = None
    default: Any = None             # source text as python-hcl2 gives it (legacy JSON: the string)
    has_default: bool = False
    default_kind: str | None = None  # "string" | "number" | "bool" | "list" | "map" | None (no default)


@dataclass(frozen=True, slots=True)
class Block:
    """A provisioner or post-processor: its type and attributes (source text)."""

    type: str
    attrs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """One build as Packer names it (``type.name``, ``build-name.type.name``; legacy: the builder name)."""

    name: str                       # legacy JSON: may still hold {{user `x`}} until evaluated
    source_type: str                # the builder type: what artifacts are parsed by
    source_key: str                 # "type.name" of the top-level source block
    source_name: str                # "type.name" after a fill-in `name` (what provisioner `only` matches)
    attrs: Mapping[str, Any]        # source attributes, fill-in ones merged
    provisioners: tuple[Block, ...] = ()
    post_processors: tuple[Block, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    """A template evaluated with the run's variables, from the folder Packer runs in."""

    builds: Mapping[str, BuildSpec]            # every build, by its evaluated name
    selected: tuple[str, ...]                  # the builds `only`/`except` pick
    unmatched_only: tuple[str, ...] = ()       # `only` entries that pick nothing
    inputs: tuple[Path, ...] = ()              # files and folders the selected builds read
    unresolved: tuple[str, ...] = ()           # inputs that stayed computed, named for the operator
    env_reads: Mapping[str, str | None] = field(default_factory=dict)  # env vars read; None: unset
    attrs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # build -> evaluated attrs
    var_origins: Mapping[str, str] = field(default_factory=dict)  # variable -> var file that set it
    manifest_outputs: tuple[str, ...] = ()     # the selected builds' manifest `output`s, evaluated


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """What the analysis of one template found (cached per template, see ``analyze``)."""

    path: Path                      # the file or folder given (absolute)
    workdir: Path                   # where Packer runs
    kind: str                       # "hcl2" | "json"
    files: tuple[Path, ...]         # every file Packer loads for it
    variables: Mapping[str, Variable] = field(default_factory=dict)
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)   # "type.name" -> attrs
    builds: tuple[BuildSpec, ...] = ()
    locals: Mapping[str, Any] = field(default_factory=dict)
    required_plugins: bool = False
    required_version: str | None = None
    # `output` of manifest post-processors ("" = default): as written, or evaluated once resolved
    manifest_outputs: tuple[str, ...] = ()
    data_sources: tuple[str, ...] = ()       # `data` blocks (Packer >= 1.7)
    parsed: bool = True                      # False: python-hcl2 could not read it (Packer may)
    resolved: Resolution | None = None

    @property
    def template_dir(self) -> Path:
        return self.path if self.path.is_dir() else self.path.parent

    @property
    def argument(self) -> str:
        """The template path as a person types it in ``workdir``: what Packer gets, and ``path.root``."""
        return os.path.relpath(self.path, self.workdir)

    @property
    def path_root(self) -> str:
        """``path.root`` as Packer 1.6.6 sets it: a folder as given, a file's folder cleaned."""
        arg = self.argument
        return arg if self.path.is_dir() else (os.path.dirname(arg) or ".")

    def _spec(self, build_name: str) -> BuildSpec | None:
        specs = self.resolved.builds if self.resolved is not None else {b.name: b for b in self.builds}
        if build_name in specs:
            return specs[build_name]
        # Older output names a build without its build-block prefix.
        matches = [b for b in specs.values() if b.source_name == build_name]
        return matches[0] if len(matches) == 1 else None

    def builder_type(self, build_name: str) -> str:
        """The source type of a build as Packer names it: ``app.file.rootfs`` -> ``file``."""
        spec = self._spec(build_name)
        if spec is not None:
            return spec.source_type
        if build_name in self.sources:
            return build_name.split(".", 1)[0]
        return ""

    def source_attrs(self, build_name: str) -> Mapping[str, Any]:
        """The build's source attributes: evaluated where known (see :class:`Resolution`), else as written."""
        spec = self._spec(build_name)
        if spec is None:
            return self.sources.get(build_name, {})
        if self.resolved is not None and spec.name in self.resolved.attrs:
            return self.resolved.attrs[spec.name]
        return spec.attrs

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


def analyze(path: Path, *, cache_dir: Path | None = None, workdir: Path | None = None) -> TemplateInfo:
    """Parse ``path``; ``workdir`` is where Packer will run (default: the template's folder)."""
    path = path.resolve()
    kind, files = template_files(path)
    here = (workdir or (path if path.is_dir() else path.parent)).resolve()
    docs = [load_summary(f, kind, cache_dir) for f in files]
    variables: dict[str, Variable] = {}
    sources: dict[str, Mapping[str, Any]] = {}
    local_values: dict[str, Any] = {}
    raw_builds: list[Any] = []
    legacy: dict[str, Any] = {}
    required_plugins = False
    required_version: str | None = None
    manifests: list[str] = []
    data: list[str] = []
    for doc in docs:
        manifests.extend(doc.get("manifest_outputs", []))
        variables.update({v["name"]: Variable(**v) for v in doc.get("variables", [])})
        sources.update(doc.get("sources", {}))
        local_values.update(doc.get("locals", {}))
        raw_builds.extend(doc.get("builds", []))
        data.extend(doc.get("data", []))
        if "builders" in doc:
            legacy = doc
        required_plugins = required_plugins or bool(doc.get("required_plugins"))
        required_version = required_version or doc.get("required_version")
    builds = _legacy_builds(legacy) if kind == "json" else _hcl_builds(raw_builds, sources)
    return TemplateInfo(
        path=path, workdir=here, kind=kind, files=files, variables=variables, sources=sources,
        builds=builds, locals=local_values, required_plugins=required_plugins,
        required_version=required_version, manifest_outputs=tuple(manifests), data_sources=tuple(data),
    )


def sensitive_literal_defaults(info: TemplateInfo) -> dict[str, Any]:
    """The literal defaults of ``info``'s sensitive variables, read again from its files (never from
    the cache, which does not hold them). Only templates that have one pay for the second parse."""
    if not any(v.sensitive and v.has_literal_default for v in info.variables.values()):
        return {}
    out: dict[str, Any] = {}
    for path in info.files:
        with contextlib.suppress(OSError, TemplateError):
            out.update(sensitive_defaults(path, path.read_bytes(), info.kind))
    return out


def unparsed(path: Path, *, workdir: Path | None = None) -> TemplateInfo:
    """The little that is known of a template that does not parse: its files."""
    path = path.resolve()
    kind, files = template_files(path)
    here = (workdir or (path if path.is_dir() else path.parent)).resolve()
    return TemplateInfo(path=path, workdir=here, kind=kind, files=files, parsed=False)


def _blocks(items: list[list[Any]]) -> tuple[Block, ...]:
    return tuple(Block(str(t), a) for t, a in items if isinstance(a, Mapping))


def _hcl_builds(raw_builds: list[Any], sources: Mapping[str, Mapping[str, Any]]) -> tuple[BuildSpec, ...]:
    out: dict[str, BuildSpec] = {}
    for build in raw_builds:
        prefix = f"{build['name']}." if build.get("name") else ""
        refs: list[tuple[str, Mapping[str, Any]]] = [(r, {}) for r in build.get("sources", [])]
        refs += [(r, a) for r, a in build.get("fill", [])]
        provs, pps = _blocks(build.get("provisioners", [])), _blocks(build.get("post_processors", []))
        for ref, fill in refs:
            key = ref.removeprefix("source.")
            stype, _, sname = key.partition(".")
            name = fill.get("name") if isinstance(fill.get("name"), str) else None
            source_name = f"{stype}.{_plain_text(name) if name else sname}"
            attrs = {**sources.get(key, {}), **{k: v for k, v in fill.items() if k != "name"}}
            spec = BuildSpec(prefix + source_name, stype, key, source_name, attrs, provs, pps)
            out.setdefault(spec.name, spec)
    return tuple(out.values())


def _legacy_builds(doc: Mapping[str, Any]) -> tuple[BuildSpec, ...]:
    provs, pps = _blocks(doc.get("provisioners", [])), _blocks(doc.get("post_processors", []))
    out: list[BuildSpec] = []
    for name, btype, attrs in doc.get("builders", []):
        out.append(BuildSpec(name, btype, f"{btype}.{name}", name, attrs, provs, pps))
    return tuple(out)


def _plain_text(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def load_summary(path: Path, kind: str, cache_dir: Path | None, *,
                 hidden: Collection[str] | None = None) -> dict[str, Any]:
    """The cached summary of one file (a template, or a var file with ``kind="vars"``).

    A var file's values may be secrets, and the cache is a file the wrapper keeps: the values of
    ``hidden`` variables are withheld (``None``), from the cache and from what is returned, and with
    ``hidden=None`` every value is (the names alone, for a template whose sensitivity is unknown)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read: {exc.strerror}") from None
    withheld = b"*" if hidden is None else "\0".join(sorted(hidden)).encode()
    cache_file: Path | None = None
    if cache_dir is not None:
        import blake3  # lazily: only needed when caching

        salt = b"\0".join([kind.encode(), path.name.encode(), PARSER_VERSION.encode(),
                           withheld if kind == "vars" else b""])
        key = blake3.blake3(data + b"\0" + salt)
        cache_file = cache_dir / "templates" / f"{key.hexdigest()}.json"
        with contextlib.suppress(OSError, ValueError):  # unreadable or not JSON: parse again
            cached = json.loads(cache_file.read_text())
            if isinstance(cached, dict):
                return cached
    doc = summarise(path, data, kind)
    if "assignments" in doc:
        doc["assignments"] = {name: None if hidden is None or name in hidden else value
                              for name, value in (doc["assignments"] or {}).items()}
    if cache_file is not None:
        with contextlib.suppress(OSError):  # the cache is an optimisation only
            private_dir(cache_file.parent)
            atomic_write_bytes(cache_file, json.dumps(doc).encode(), durable=False)
    return doc


def interpolate(value: object, workdir: Path | None, variables: Mapping[str, object]) -> str | None:
    """A template attribute value as text, with ``${path.root}`` and ``${var.NAME}`` substituted.

    The shared resolver for one value outside a full evaluation (artifact facts, manifest paths).
    ``value`` is what the analysis holds (source text with quotes, an evaluated string, a number);
    ``variables`` are known non-secret values; ``workdir`` stands for ``path.root`` (``None``:
    unknown). Anything still unresolved -- an unknown variable, a function, a boolean, a list --
    gives ``None``: callers treat the value as unknown rather than guess.
    """
    from hybridcore.packer.hcl_expr import Env, Unknown, evaluate_raw
    from hybridcore.packer.hcl_funcs import Functions

    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, int | float):
        return str(value)
    names: dict[str, Any] = {"var": {k: v for k, v in variables.items() if isinstance(v, str)}}
    if workdir is not None:
        names["path"] = {"root": str(workdir)}
    result = evaluate_raw(value, Env(names, Functions(_NoMachine())))
    if isinstance(result, Unknown | bool) or not isinstance(result, str | int | float):
        return None
    text = str(result)
    # A variable's value is literal text to Packer, but one holding "${" is more likely a mistake.
    return None if "${" in text else text


class _NoMachine:
    """Machine access for :func:`interpolate`: none (it must not read files or the environment)."""

    def read(self, path: str) -> Any:
        from hybridcore.packer.hcl_expr import Unknown

        return Unknown(f"file({path})")

    def fileset(self, base: str, pattern: str) -> Any:
        return self.read(base)

    def templatefile(self, path: str) -> Any:
        return self.read(path)

    def abspath(self, path: str) -> str:
        if not os.path.isabs(path):
            raise ValueError("abspath() of a relative path needs the working folder")
        return os.path.normpath(path)

    def env(self, name: str) -> Any:
        return self.read(name)

    def unknown_call(self, name: str, why: str) -> None:
        return None
