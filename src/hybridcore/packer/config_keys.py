"""Every key ``hybridcore.toml`` accepts, in one table: what the parser checks and what the README shows.

The table is the single source for both, so the documented keys and the accepted keys cannot drift
apart. ``python -m hybridcore.packer.config_keys`` prints the Markdown reference.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Key:
    """One ``hybridcore.toml`` key as the README documents it."""

    name: str
    kind: str      # how the README names its type
    default: str   # as the README shows it
    help: str


TARGET_KEYS: tuple[Key, ...] = (
    Key("template", "path", "(required)", "template file or folder, relative to hybridcore.toml"),
    Key("workdir", "path", "project root", "folder Packer runs in, relative to hybridcore.toml; the "
        "template is passed relative to it, so path.root/path.cwd resolve as when run by hand there"),
    Key("only", "list of strings", "[]", "Packer -only (build names, globs); an entry matching no build "
        "is refused"),
    Key("except", "list of strings", "[]", "Packer -except"),
    Key("var_files", "list of paths", "[]", "var files, in order, relative to hybridcore.toml"),
    Key("vars", "table", "{}", "variable values (travel in a private var file, never on argv)"),
    Key("secrets", "table NAME = \"ENV_VAR\"", "{}", "secret variables read from environment variables"),
    Key("provisioners", "list of paths", "[]", "provisioner assets: hashed for drift and handed to the "
        "template as var.hybridcore_provisioners when it declares that variable"),
    Key("platform", "string", "from the builder", "platform written into artifact records"),
    Key("region", "string", "from the artifact", "region written into artifact records"),
    Key("smoke", "bool", "false", "part of the upgrade-check smoke builds"),
    Key("timeout", "seconds", "[build] timeout", "time limit for one Packer run of this target"),
    Key("description", "string", "\"\"", "free text"),
)

SECTION_KEYS: dict[str, tuple[Key, ...]] = {
    "packer": (
        Key("binary", "path", "packer on PATH", "the Packer binary (or $HYBRIDCORE_PACKER)"),
        Key("version", "constraint", "any >= 1.6.0", "required Packer version, e.g. \">=1.6, <2\""),
    ),
    "build": (
        Key("retries", "int", "0", "retries of a retryable failure"),
        Key("timeout", "seconds", "none", "time limit for one Packer run"),
        Key("kill_grace", "seconds", "60", "wait after SIGINT before SIGTERM, and again before SIGKILL"),
        Key("backoff_initial", "seconds", "5", "first wait between retries"),
        Key("backoff_max", "seconds", "120", "longest wait between retries"),
        Key("backoff_jitter", "seconds", "1", "random extra wait between retries"),
        Key("strict", "bool", "false", "refuse builds whose inputs cannot all be resolved and hashed"),
        Key("log_max_mb", "MiB", "256", "cap per log file of a run (stdout, stderr, packer.log); a note marks the cut"),
    ),
    "cache": (
        Key("dir", "path", ".hybridcore/cache", "shared download cache (used read-only when it is)"),
    ),
    "runs": (
        Key("keep", "int", "all", "keep only the newest N commands' run folders and logs"),
    ),
    "classify": (
        Key("rules", "array of tables", "[]", "extra classification rules: id, pattern(s), category, "
            "retryable, hint"),
    ),
}
# Tables whose keys are the user's own names rather than fixed keys.
FREE_TABLES: dict[str, str] = {
    "targets": "one [targets.NAME] table per target (keys below)",
    "secrets": "NAME = \"ENV_VAR\": secret variables for every target",
}
TOP_LEVEL = frozenset(SECTION_KEYS) | frozenset(FREE_TABLES)


def names(keys: Iterable[Key]) -> frozenset[str]:
    return frozenset(k.name for k in keys)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``did you mean 'build'?`` for a near miss, else the list of what is known."""
    known = sorted(known)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}? (known: {', '.join(known)})"
    return f"known: {', '.join(known)}"


def reference_markdown() -> str:
    """The hybridcore.toml reference for the README."""
    out = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]

    def rows(prefix: str, keys: Iterable[Key]) -> None:
        for k in keys:
            out.append(f"| `{prefix}{k.name}` | {k.kind} | {k.default} | {k.help} |")

    rows("[targets.NAME] ", TARGET_KEYS)
    out.append("| `[secrets] NAME` | string | | " + FREE_TABLES["secrets"] + " |")
    for section, keys in SECTION_KEYS.items():
        rows(f"[{section}] ", keys)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
