"""Legacy JSON templates evaluated for one run (the ``{{ }}`` counterpart of ``template_eval``).

User variables come from defaults (which may use ``{{env}}`` and other ``{{user}}`` values), var
files and the values the wrapper passes; legacy templates never read ``PKR_VAR_*``. ``-only`` and
``-except`` name builders exactly (Packer 1.6.6 has no globs here), and so do a provisioner's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hybridcore.packer import gotemplate
from hybridcore.packer.hcl_expr import Unknown
from hybridcore.packer.template_inputs import GLOB_KEYS, file_keys
from hybridcore.packer.template_resolver import (
    Resolver,
    applies,
    legacy_render,
    result_of,
    scan_commands,
    select_builds,
    settle,
)
from hybridcore.packer.templates import BuildSpec, Resolution


def evaluate_legacy(r: Resolver, assigned: Mapping[str, Any], origins: Mapping[str, str], hidden: set[str],
                    only: Sequence[str], except_: Sequence[str], packer_version: str) -> Resolution:
    info = r.info
    users: dict[str, Any] = {}
    busy: set[str] = set()

    def user(name: str) -> Any:
        if name in users:
            return users[name]
        var = info.variables.get(name)
        if name in assigned:
            value: Any = assigned[name]
        elif var is None or var.default is None or name in busy:
            value = Unknown(f"user `{name}`")
        else:
            busy.add(name)
            value = render(var.default) if isinstance(var.default, str) else var.default
            busy.discard(name)
        if name in hidden or (var is not None and var.sensitive):
            value = Unknown(f"user `{name}` (sensitive)")  # its {{env}} read is recorded all the same
        users[name] = value
        return value

    template_dir = str(info.template_dir)
    base: dict[str, Callable[..., Any]] = {
        "user": user, "env": r.env, "template_dir": lambda: template_dir, "pwd": lambda: r.workdir,
        "split": gotemplate.split, "lower": str.lower, "upper": str.upper,
        "packer_version": lambda: packer_version,
    }

    def render(text: str, extra: Mapping[str, Callable[..., Any]] | None = None) -> str | Unknown:
        return legacy_render(text, {**base, **(extra or {})})

    for name in info.variables:
        user(name)  # defaults are rendered up front, as Packer does: their {{env}} reads are inputs
    builds: dict[str, BuildSpec] = {}
    for spec in info.builds:
        rendered = render(spec.name) if "{{" in spec.name else spec.name
        key = rendered if isinstance(rendered, str) else spec.name
        builds.setdefault(key, BuildSpec(key, spec.source_type, spec.source_key, key, spec.attrs,
                                         spec.provisioners, spec.post_processors))
    selected, unmatched = select_builds(list(builds), only, except_, globs=False)
    attrs: dict[str, Mapping[str, Any]] = {}
    for name in selected:
        spec = builds[name]
        extra = {"build_name": lambda n=name: n, "build_type": lambda t=spec.source_type: t}

        def value(raw: Any, extra: Mapping[str, Callable[..., Any]] = extra) -> Any:
            if isinstance(raw, str):
                return render(raw, extra)
            if isinstance(raw, Mapping):
                return {k: value(v) for k, v in raw.items()}
            if isinstance(raw, list):
                return [value(v) for v in raw]
            return raw

        attrs[name] = _block(r, value, "source", spec.source_type, spec.attrs, f"builder {name}")
        for kind, blocks in (("provisioner", spec.provisioners), ("post-processor", spec.post_processors)):
            for block in blocks:
                if applies(block, name, value):
                    _block(r, value, kind, block.type, block.attrs, f"{kind} {block.type}")
    return result_of(r, builds, selected, unmatched, attrs, origins)


def _block(r: Resolver, value: Callable[[Any], Any], kind: str, btype: str, raw: Mapping[str, Any],
           where: str) -> Mapping[str, Any]:
    evaluated: dict[str, Any] = value(dict(raw))
    for key in file_keys(kind, btype, raw):
        if key in raw:
            r.add_paths(evaluated.get(key), raw[key], f"{where} {key}", globs=key in GLOB_KEYS)
    scan_commands(r, btype, evaluated, raw)
    settled: Mapping[str, Any] = settle(evaluated, raw)
    return settled
