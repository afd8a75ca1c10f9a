"""A template evaluated as Packer 1.6.6 will see it from its working folder: the one resolver.

Given the analysis (``templates``), where Packer runs, the var files, the values the wrapper passes
and the environment, :func:`resolve` works out the variables (defaults, ``PKR_VAR_*``, auto and
explicit var files, given values; secret ones stay unknown), every local, which builds ``only``/
``except`` select, and for those builds every file the build reads. Path rules, checked against
Packer 1.6.6 (tests/realworld/README.md): ``path.root`` is the template path as given (a file's
folder), ``path.cwd`` the absolute working folder; ``file()``/``fileset()``/``templatefile()`` resolve
a relative path from ``path.root``; every other path attribute from the working folder; legacy
``{{template_dir}}`` is absolute. What stays computed is named in :attr:`Resolution.unresolved`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hybridcore.errors import TemplateError
from hybridcore.packer.hcl_expr import Env, ExprError, Unknown, compile_expr, evaluate_raw
from hybridcore.packer.hcl_funcs import Functions
from hybridcore.packer.template_inputs import GLOB_KEYS, file_keys
from hybridcore.packer.template_legacy import evaluate_legacy
from hybridcore.packer.template_resolver import (
    NoMachine,
    Resolver,
    applies,
    result_of,
    scan_commands,
    select_builds,
    settle,
)
from hybridcore.packer.templates import Resolution, TemplateInfo, load_summary

__all__ = ["resolve"]


class _Locals(Mapping[str, Any]):
    """``local.*``, evaluated on first use (a cycle evaluates to Unknown instead of recursing)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.env: Env | None = None
        self.done: dict[str, Any] = {}
        self.busy: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        if name in self.done:
            return self.done[name]
        if name in self.busy or self.env is None:
            return Unknown(f"local.{name} (cycle)")
        self.busy.add(name)
        try:
            value = evaluate_raw(self.raw[name], self.env)
        finally:
            self.busy.discard(name)
        self.done[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


def resolve(info: TemplateInfo, *, var_files: Sequence[Path] = (), values: Mapping[str, str] | None = None,
            hidden: Collection[str] = (), env: Mapping[str, str] | None = None, only: Sequence[str] = (),
            except_: Sequence[str] = (), packer_version: str = "", root: Path | None = None,
            cache_dir: Path | None = None) -> Resolution:
    """Evaluate ``info`` for one run. ``values``: the plain values the wrapper passes (as on ``-var``);
    ``hidden``: secret variable names (never evaluated); ``root``: the project (commands in ``inline``
    count only when they name a file inside it)."""
    r = Resolver(info, os.environ if env is None else env, root)
    auto = [f for f in info.files if f.name.endswith((".auto.pkrvars.hcl", ".auto.pkrvars.json"))]
    withheld = set(hidden) | info.sensitive_names() if info.parsed else None
    assigned, origins = _assignments(r, [*auto, *var_files], values or {}, cache_dir, withheld)
    if not info.parsed:
        r.unresolved["everything the template names (hybridcore could not parse it)"] = None
        if info.kind != "json":
            r.env_reads.update({k: v for k, v in r.environ.items() if k.startswith("PKR_VAR_")})
        return result_of(r, {}, (), (), {}, origins)
    if info.kind == "json":
        return evaluate_legacy(r, assigned, origins, set(hidden), only, except_, packer_version)
    variables = _hcl_variables(r, assigned, set(hidden))
    local_values = _Locals(info.locals)
    scope = Env({"var": variables, "local": local_values,
                 "path": {"root": info.path_root, "cwd": r.workdir}, "packer": {"version": packer_version}},
                r.funcs)
    local_values.env = scope
    for name in info.locals:  # Packer evaluates every local: their file() reads are inputs
        local_values[name]
    builds = {b.name: b for b in info.builds}
    selected, unmatched = select_builds(list(builds), only, except_, globs=True)
    attrs: dict[str, Mapping[str, Any]] = {}
    for name in selected:
        spec = builds[name]
        stype, _, sname = spec.source_name.partition(".")
        env_b = scope.child({"source": {"type": stype, "name": sname}})
        attrs[name] = _hcl_block(r, env_b, "source", spec.source_type, spec.attrs, f"source {spec.source_name}")
        for kind, blocks in (("provisioner", spec.provisioners), ("post-processor", spec.post_processors)):
            for block in blocks:
                if applies(block, spec.source_name, lambda raw, e=env_b: evaluate_raw(raw, e)):
                    _hcl_block(r, env_b, kind, block.type, block.attrs, f"{kind} {block.type}")
    return result_of(r, builds, selected, unmatched, attrs, origins)


def _assignments(r: Resolver, files: Sequence[Path], given: Mapping[str, str], cache_dir: Path | None,
                 withheld: Collection[str] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """Variable values from var files (in Packer's order) and the wrapper; which var file sets each one."""
    info = r.info
    assigned: dict[str, Any] = {}
    origins: dict[str, str] = {}
    plain_env = Env({}, Functions(NoMachine()))
    for path in files:
        try:
            doc = load_summary(path, "vars", cache_dir, hidden=withheld)
        except TemplateError:
            r.unresolved[f"the values of var file {path} (hybridcore could not parse it)"] = None
            continue
        for name, raw in (doc.get("assignments") or {}).items():
            json_value = doc.get("json") or info.kind == "json"
            assigned[name] = raw if json_value else evaluate_raw(raw, plain_env)
            origins[name] = str(path)
    for name, text in given.items():
        var = info.variables.get(name)
        assigned[name] = text if info.kind == "json" else _typed(text, var.type if var else None)
    return assigned, origins


def _typed(text: str, vtype: str | None) -> Any:
    """A value given as text (``-var``, ``PKR_VAR_``): a string, or HCL for other types."""
    if vtype in (None, "string"):
        return text
    try:
        return compile_expr(text)(Env({}, Functions(NoMachine())))
    except (ExprError, RecursionError):
        return Unknown(f"{text!r} as {vtype}")


def _hcl_variables(r: Resolver, assigned: Mapping[str, Any], hidden: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, var in r.info.variables.items():
        if name in assigned:
            value = assigned[name]
        else:
            env_name = f"PKR_VAR_{name}"
            r.env_reads[env_name] = r.environ.get(env_name)
            if env_name in r.environ:
                value = _typed(r.environ[env_name], var.type)
            elif var.has_default:
                value = evaluate_raw(var.default, Env({}, r.funcs))
            else:
                value = Unknown(f"var.{name} (not set)")
        out[name] = Unknown(f"var.{name} (sensitive)") if name in hidden or var.sensitive else value
    return out


def _hcl_block(r: Resolver, env: Env, kind: str, btype: str, raw: Mapping[str, Any], where: str,
               ) -> Mapping[str, Any]:
    """Evaluate one block (its file() reads become inputs), collect its path attributes, and return its
    attributes evaluated where known and as written where not."""
    evaluated: dict[str, Any] = evaluate_raw(raw, env)
    keys = file_keys(kind, btype, raw)
    for key in keys:
        if key in raw:
            r.add_paths(evaluated.get(key), raw[key], f"{where} {key}", globs=key in GLOB_KEYS)
    scan_commands(r, btype, evaluated, raw)
    settled: Mapping[str, Any] = settle(evaluated, raw)
    return settled


