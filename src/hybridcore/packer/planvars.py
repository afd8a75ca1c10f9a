"""The variables part of a plan: which values Packer gets, which of them are secret, and the redactor.

Values given to the wrapper (toml ``vars`` and ``secrets``, API ``vars``, ``--var``/``--secret``, and
the injected ``hybridcore_provisioners``/``hybridcore_env``) all travel in one generated var file
(``varfile.py``), never on argv. A variable is secret when the template declares it ``sensitive``,
when its value is a ``Secret(...)``, or when toml ``secrets`` names it; the value a var file (or an
auto var file) sets for a secret variable is a secret too. When the template could not be read, no
one knows which variables are sensitive: every value given is redacted (fail closed).

Nothing here writes a file or prints a value; errors name variables, files and environment
variables, never values.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridcore.errors import ConfigError, MalformedVar
from hybridcore.packer.config import Target
from hybridcore.packer.preflight import check_var_file
from hybridcore.packer.secrets import (
    MIN_SECRET_LEN,
    Redactor,
    Secret,
    SplitVars,
    check_secret,
    env_redactor,
    leaves,
    render_value,
    secret_texts,
    valid_var_name,
)
from hybridcore.packer.templates import TemplateInfo, sensitive_literal_defaults
from hybridcore.packer.varfile import GeneratedVarFile, render_var_file

__all__ = ["INJECTED", "RESERVED", "PlannedVars", "auto_var_files", "parse_var_file", "plan_vars"]

# Variables the wrapper injects when a template declares them; excluded from fingerprints because they
# describe the run, not the image.
INJECTED = ("hybridcore_provisioners", "hybridcore_env")
# Its value is the explicit, hashed provisioner list: one set any other way would run unhashed files.
RESERVED = "hybridcore_provisioners"
_AUTO_SUFFIXES = (".auto.pkrvars.hcl", ".auto.pkrvars.json")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class PlannedVars:
    """A target's variables planned: values by sensitivity, redactor, var file."""

    split: SplitVars                    # rendered values by sensitivity
    redactor: Redactor
    var_file: GeneratedVarFile | None   # None: no value given, no -var-file added
    secret_names: frozenset[str]
    warnings: tuple[str, ...]


def plan_vars(
    target: Target,
    info: TemplateInfo,
    *,
    parsed: bool,
    given: Mapping[str, Any] | None,
    var_files: Sequence[Path],
    provisioners: Sequence[Path],
    base_env: Mapping[str, str],
    hybridcore_env: str,
) -> PlannedVars:
    """Everything about variables for one target. ``parsed``: the template's variables are known
    (else ``info`` holds only its files, and every value given is treated as secret)."""
    values = _given_values(target, given, base_env)
    if RESERVED in values:
        raise MalformedVar(f"{RESERVED} is reserved: the wrapper sets it to the provisioners it hashed",
                           hint="list provisioner assets with --provisioner or the target's "
                                "'provisioners' key instead")
    if parsed:
        _refuse_unknown(values, info)
        if RESERVED in info.variables:
            values[RESERVED] = [str(p) for p in provisioners]
        if "hybridcore_env" in info.variables:
            values.setdefault("hybridcore_env", hybridcore_env)
    declared = {n for n, v in values.items() if isinstance(v, Secret)} | set(target.secrets)
    if parsed:
        declared |= info.sensitive_names()
    secret_names = declared if parsed else declared | set(values)
    for name in sorted(declared & set(values)):
        if name in target.secrets and name not in (given or {}):
            check_secret(name, values[name], via=f"read from {target.secrets[name]}", error=ConfigError)
        else:
            check_secret(name, values[name])
    plain = {n: render_value(v) for n, v in sorted(values.items()) if n not in secret_names}
    secret = {n: render_value(v) for n, v in sorted(values.items()) if n in secret_names}
    texts: set[str] = set()
    for name in secret_names & set(values):
        texts |= _value_texts(values[name])
    files = [*auto_var_files(info), *var_files]
    texts |= _var_file_secrets(files, declared, parsed, info.kind)
    texts |= _env_secrets(info, declared, parsed, base_env)
    # A literal default of a sensitive variable is still a secret (committed, but printed all the same).
    # The strings inside sensitive literal defaults, by variable. Numbers and booleans are left out:
    # redacting every ``true`` or ``2022`` in the output would hide more than it protects.
    literal = {name: {t for t in leaves(default) if isinstance(t, str) and t.strip()}
               for name, default in sensitive_literal_defaults(info).items()}
    texts |= {t for found in literal.values() for t in found if len(t) >= MIN_SECRET_LEN}
    redactor = env_redactor(base_env, texts)
    warnings = _warnings(target, info, parsed, values, declared)
    warnings += [f"{target.name}: sensitive variable {name!r} has a literal default shorter than "
                 f"{MIN_SECRET_LEN} characters, which cannot be redacted" for name, found in sorted(literal.items())
                 if any(len(t.strip()) < MIN_SECRET_LEN for t in found)]
    return PlannedVars(
        split=SplitVars(plain, secret), redactor=redactor,
        var_file=render_var_file(values, info.variables, info.kind),
        secret_names=frozenset(secret_names), warnings=tuple(redactor(w) for w in warnings),
    )


def _given_values(target: Target, given: Mapping[str, Any] | None, base_env: Mapping[str, str],
                  ) -> dict[str, Any]:
    """toml ``vars``, then toml ``secrets`` read from the environment, then the caller's values."""
    values: dict[str, Any] = dict(target.vars)
    for name, env_var in target.secrets.items():
        if given and name in given:
            continue  # the caller's value wins; the variable stays secret
        if env_var not in base_env:
            raise ConfigError(
                f"target {target.name!r}: secret variable {name!r} reads environment variable {env_var}, "
                "which is not set",
                hint=f"export {env_var} (e.g. from your CI's secret store) before running",
            )
        values[name] = Secret(base_env[env_var])
    for name, value in (given or {}).items():
        values[name] = value
    for name in values:
        if not valid_var_name(name):
            raise MalformedVar(f"malformed variable name {name!r}")
    return values


def _refuse_unknown(values: Mapping[str, Any], info: TemplateInfo) -> None:
    """Packer only warns about an unknown name in a var file, where given values now travel: the
    wrapper refuses it as ``-var`` did (a typo would otherwise build with the default)."""
    unknown = sorted(n for n in values if n not in info.variables)
    if not unknown:
        return
    known = sorted(info.variables)
    close = [m for n in unknown for m in difflib.get_close_matches(n, known, n=1)]
    hint = (f"did you mean {', '.join(repr(c) for c in close)}? " if close else "") + (
        f"the template declares: {', '.join(known)}" if known else "the template declares no variables")
    raise MalformedVar(f"variable{'s' * (len(unknown) > 1)} {', '.join(repr(n) for n in unknown)} "
                       f"not declared by {info.path}", hint=hint)


def auto_var_files(info: TemplateInfo) -> list[Path]:
    """The ``*.auto.pkrvars.hcl``/``.json`` files Packer loads by itself (a template folder's)."""
    return [f for f in info.files if f.name.endswith(_AUTO_SUFFIXES)]


def parse_var_file(text: str, *, json_syntax: bool, names: Iterable[str] | None = None,
                   ) -> dict[str, Any] | None:
    """A var file's assignments (only those of ``names`` when given), or ``None`` when it does not
    parse. HCL string values come back with their escapes decoded but ``$${`` kept. Legacy JSON
    templates' var files are JSON."""
    text = text.removeprefix(_BOM)  # Packer accepts a UTF-8 BOM; python-hcl2 does not
    if names is not None and not json_syntax:
        simple = _simple_assignments(text, names)
        if simple is not None:
            return simple
    data: Any
    try:
        if json_syntax:
            data = json.loads(text)
        else:
            import hcl2  # lazily: only files that may hold a secret are parsed

            opts = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False,
                                             strip_string_quotes=True, preserve_heredocs=False)
            data = hcl2.loads(text, serialization_options=opts)
    except Exception:
        return None
    return data if isinstance(data, dict) else None


_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[nrt"\\])')
_NAMED_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _simple_assignments(text: str, names: Iterable[str]) -> dict[str, Any] | None:
    """``name = "literal"`` lines for ``names``, read without the HCL parser (importing and building
    it costs ~0.15 s); ``None`` when a line naming one of them is anything else (a heredoc, a list,
    an interpolation, a comment): the caller then parses the whole file."""
    found: dict[str, Any] = {}
    for name in names:
        word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        line_re = re.compile(rf'\s*{re.escape(name)}\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*')
        for line in text.splitlines():
            if not word.search(line):
                continue
            m = line_re.fullmatch(line)
            if m is None or "${" in m.group(1) or "%{" in m.group(1):
                return None
            if _ESCAPE.sub("", m.group(1)).count("\\"):
                return None  # an escape HCL does not have: let the parser say so
            found[name] = _ESCAPE.sub(lambda e: _NAMED_ESCAPES.get(e.group(1)) or chr(int(e.group(1)[1:], 16)),
                                      m.group(1))
    return found


def _value_texts(value: Any) -> set[str]:
    """:func:`secret_texts`, and for text that Packer may read as a list or map expression (a list
    variable given on the command line), the strings inside it too: ``${var.tags[0]}`` prints one."""
    raw = value.reveal() if isinstance(value, Secret) else value
    texts = secret_texts(value)
    if isinstance(raw, str) and raw.strip()[:1] in ("[", "{"):
        try:
            texts |= secret_texts(json.loads(raw))
        except ValueError:  # an HCL expression ({k = "v"}): the parser is slower, so only then
            parsed = parse_var_file(f"v = {raw.strip()}\n", json_syntax=False)
            if parsed is not None and "v" in parsed:
                texts |= {_unescape_template(t) for t in secret_texts(parsed["v"])}
    return texts


def _mentions(text: str, names: Iterable[str]) -> bool:
    return any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text) for n in names)


def _var_file_secrets(files: Sequence[Path], declared: set[str], parsed: bool, kind: str) -> set[str]:
    """Secret values set in var files; a var file that sets ``hybridcore_provisioners`` is refused.

    A file is parsed only when it mentions a name that matters (cheap, and lark is slow); one that
    cannot be parsed but may set a secret is refused rather than guessed at."""
    texts: set[str] = set()
    watched = declared | {RESERVED}
    for path in files:
        if not os.path.lexists(path):
            continue  # the fingerprint reports a missing input
        check_var_file(path)  # a FIFO, device, folder or huge file: refused before anything reads it
        try:
            blob = path.read_bytes()
        except OSError:
            continue  # the fingerprint reports an unreadable input
        raw = blob.decode("utf-8", "replace")
        if parsed and not _mentions(raw, watched):
            continue
        try:
            data = parse_var_file(blob.decode("utf-8"), json_syntax=kind == "json" or path.suffix == ".json",
                                  names=watched if parsed else None)
        except UnicodeDecodeError:
            data = None
        if data is None:
            if not parsed or _mentions(raw, declared):
                raise MalformedVar(
                    f"var file {path} cannot be read to find the values of secret variables",
                    hint="check its syntax; the wrapper must know every secret value to redact it")
            continue  # mentions only the reserved name, unparsable: Packer will reject it itself
        if RESERVED in data:
            raise MalformedVar(f"var file {path} sets {RESERVED}, which is reserved",
                               hint="list provisioner assets with --provisioner or the target's "
                                    "'provisioners' key instead")
        for name, value in data.items():
            if name in declared:
                check_secret(name, value, via=f"set in {path.name}")
            if name in declared or not parsed:
                texts |= {_unescape_template(t) for t in secret_texts(value)} | secret_texts(value)
    return texts


def _unescape_template(text: str) -> str:
    return text.replace("$${", "${").replace("%%{", "%{")


def _env_secrets(info: TemplateInfo, declared: set[str], parsed: bool, base_env: Mapping[str, str],
                 ) -> set[str]:
    """Secret values Packer reads from the environment: ``env("X")`` defaults of sensitive variables
    and ``PKR_VAR_<name>`` of secret ones (every ``PKR_VAR_`` when the template could not be read)."""
    texts: set[str] = set()
    for var in info.variables.values():
        if var.sensitive and var.env_default and base_env.get(var.env_default):
            check_secret(var.name, base_env[var.env_default], what="sensitive variable",
                         via=f"its default reads {var.env_default}")
            texts.add(base_env[var.env_default])
    for key, value in base_env.items():
        name = key.removeprefix("PKR_VAR_")
        if name == key or not value:
            continue
        if name in declared:
            check_secret(name, value, via=f"from {key}")
        if name in declared or not parsed:
            texts.add(value)
    return texts


def _warnings(target: Target, info: TemplateInfo, parsed: bool, values: Mapping[str, Any],
              declared: set[str]) -> list[str]:
    warnings: list[str] = []
    if not parsed:
        warnings.append(f"{target.name}: the template could not be read, so which variables are "
                        "sensitive is unknown: every value given is treated as secret and redacted")
        short = sum(1 for v in values.values() if 0 < len(render_value(v).strip()) < MIN_SECRET_LEN)
        if short:
            warnings.append(f"{target.name}: {short} given value{'s' * (short > 1)} shorter than "
                            f"{MIN_SECRET_LEN} characters cannot be redacted")
    for var in info.variables.values():
        if var.sensitive and var.has_literal_default:
            warnings.append(
                f"{target.name}: sensitive variable {var.name!r} has a literal default; read it with "
                f"env(\"...\") or pass it at run time so the secret is not committed")
    for name in sorted(set(target.vars) & declared):
        warnings.append(f"{target.name}: secret variable {name!r} is set in hybridcore.toml 'vars'; "
                        f"read it from the environment with secrets = {{ {name} = \"ENV_VAR\" }}")
    return warnings
