"""The one var file the wrapper writes: every variable value it was given, for one Packer run.

No value ever goes on Packer's argv (``ps`` and ``/proc/<pid>/cmdline`` show argv to every user of the
machine) nor into ``PKR_VAR_*`` (which loses to the user's var files and which legacy JSON templates
ignore). Values travel in this file instead, passed as Packer's **last** ``-var-file``: later var files
win, so given values keep the precedence ``-var`` had over the user's var files. It is created 0600 in
the attempt's private 0700 temp folder (Packer's ``TMPDIR``) and removed when the run ends; it is the
only file where the wrapper writes a secret.

HCL2 templates get a ``.pkrvars.hcl`` file; legacy JSON templates a flat JSON object of strings (what
Packer 1.6.6 accepts there). Each value is written the way Packer reads the same value from ``-var``:
as text for a variable typed (or defaulting to) string or number, or untyped; as an HCL expression
otherwise (lists, maps, bools).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridcore.errors import MalformedVar
from hybridcore.packer.secrets import Secret, render_value
from hybridcore.packer.templates import Variable

__all__ = ["HCL_NAME", "JSON_NAME", "PLACEHOLDER_DIR", "GeneratedVarFile", "hcl_expression", "hcl_string",
           "remove_var_file", "render_var_file", "var_file_path", "write_var_file"]

# The file's name in the attempt's temp folder. The abandoned-run sweep removes the whole folder; the
# names are here so that anything looking for a left-over secret file knows what to look for. Neither
# may end in ``.auto.pkrvars.*`` (Packer would load it from a template folder by itself).
HCL_NAME = "hybridcore.pkrvars.hcl"
JSON_NAME = "hybridcore.vars.json"
# Where the file is shown in a plan's argv (the temp folder exists only once an attempt starts).
# ``$TMPDIR`` is literally true: Packer's TMPDIR is that folder.
PLACEHOLDER_DIR = "$TMPDIR"
# Packer reads these types from -var as text; anything else is parsed as an HCL expression.
_TEXT_TYPES = frozenset({"string", "number"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\\"]")
_NAMED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True, slots=True)
class GeneratedVarFile:
    """What to write: the file name and its text. ``text`` holds secret values: never shown."""

    name: str
    text: str = field(repr=False)


def hcl_string(text: str) -> str:
    """``text`` as a quoted HCL string literal that Packer reads back exactly: quotes, backslashes
    and control characters escaped, and the template sequences ``${`` and ``%{`` doubled."""
    escaped = _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\u{ord(m.group()):04x}"), text)
    return '"' + escaped.replace("${", "$${").replace("%{", "%%{") + '"'


def hcl_value(value: Any) -> str:
    """A Python value as an HCL literal expression (strings quoted, never interpolated)."""
    if isinstance(value, Secret):
        value = value.reveal()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedVar("a variable value is not a finite number", hint="Packer has no NaN or infinity")
        return json.dumps(value)
    if isinstance(value, Mapping):
        items = (f"{hcl_string(str(k))} = {hcl_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    return hcl_string(str(value))


def hcl_expression(name: str, text: str) -> str:
    """``text`` (a value typed on the command line for a list, map or bool variable) as the HCL
    expression Packer's ``-var`` would parse it into. JSON is rewritten as an HCL literal; other text
    must parse as one expression on its own, so it cannot add or change other variables."""
    try:
        return hcl_value(json.loads(text))
    except ValueError:
        pass
    import hcl2  # lazily: lark is slow to import, and only non-JSON expressions need it

    try:
        parsed = hcl2.loads(f"{name} = {text}\n")
    except Exception:
        parsed = None
    if not isinstance(parsed, dict) or list(parsed) != [name]:
        raise MalformedVar(f"variable {name!r}: the value is not one HCL expression",
                           hint='a list or map variable takes an expression, e.g. ["a", "b"] or {k = "v"}')
    return text.strip()


def _takes_expression(var: Variable | None) -> bool:
    if var is None:
        return False
    vtype = (var.type or "").strip()
    if vtype.startswith("${") and vtype.endswith("}"):
        vtype = vtype[2:-1].strip()
    if vtype:
        return vtype not in _TEXT_TYPES
    return var.default_kind not in (None, *_TEXT_TYPES)


def render_var_file(values: Mapping[str, Any], variables: Mapping[str, Variable],
                    kind: str) -> GeneratedVarFile | None:
    """The var file for ``values`` (names already checked), or ``None`` when there is nothing to pass.

    ``kind`` is the template's (``"json"``: legacy, whose variables are all strings)."""
    if not values:
        return None
    if kind == "json":
        data = {name: render_value(values[name]) for name in sorted(values)}
        return GeneratedVarFile(JSON_NAME, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    lines = []
    for name in sorted(values):
        value = values[name]
        raw = value.reveal() if isinstance(value, Secret) else value
        if isinstance(raw, str):
            rendered = hcl_expression(name, raw) if _takes_expression(variables.get(name)) else hcl_string(raw)
        else:
            rendered = hcl_value(raw)
        lines.append(f"{name} = {rendered}\n")
    text = "".join(lines)
    try:
        text.encode()
    except UnicodeEncodeError:
        raise MalformedVar("a variable value is not valid text (lone surrogate)") from None
    return GeneratedVarFile(HCL_NAME, text)


def var_file_path(folder: Path | str, spec: GeneratedVarFile) -> Path:
    return Path(folder) / spec.name


def write_var_file(folder: Path, spec: GeneratedVarFile | None) -> Path | None:
    """Write ``spec`` into ``folder`` (the attempt's private temp folder): created 0600, exclusively,
    never through a symlink. Returns its path, or ``None`` when there is nothing to write."""
    if spec is None:
        return None
    path = var_file_path(folder, spec)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(spec.text)
    except BaseException:
        remove_var_file(path)
        raise
    return path


def remove_var_file(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
