"""``hybridcore-packer init``: adopt the tool in an existing Packer repository.

Writes ``hybridcore.toml`` with one target per template folder found below the current folder (or a
commented example when there is none) and adds ``.hybridcore/`` and ``artifacts/`` to ``.gitignore``.
Never overwrites an existing ``hybridcore.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hybridcore.errors import ConfigError
from hybridcore.packer.config import PROJECT_FILE

IGNORED = (".hybridcore/", "artifacts/")
_SKIP = {".git", ".hybridcore", "artifacts", "node_modules", ".venv", "packer_cache"}
_MAX_TARGETS = 50

EXAMPLE = """\
# hybridcore.toml: the targets hybridcore-packer builds. Reference: README "hybridcore.toml".
# [targets.web]
# template = "packer/web"              # a template file or folder, relative to this file
# workdir = "."                        # where Packer runs (default: this folder)
# var_files = ["packer/web/dc1.pkrvars.hcl"]
# vars = { region = "dc1" }
# secrets = { ssh_password = "WEB_SSH_PASSWORD" }   # read from the environment, never written here
"""


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    targets: tuple[str, ...]
    gitignore_added: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"config_path": str(self.config_path), "targets": list(self.targets),
                "gitignore_added": list(self.gitignore_added)}


def find_templates(root: Path) -> list[Path]:
    """Folders holding HCL2 templates and legacy JSON template files, relative to ``root``, sorted."""
    found: set[Path] = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _SKIP or part.startswith("output-") for part in rel.parts):
            continue
        if path.is_file() and path.name.endswith((".pkr.hcl", ".pkr.json")):
            found.add(rel.parent)
        elif path.is_file() and path.suffix == ".json" and _looks_like_legacy(path):
            found.add(rel)
    return sorted(found)[:_MAX_TARGETS]


def _looks_like_legacy(path: Path) -> bool:
    try:
        head = path.read_text(errors="replace")[:4096]
    except OSError:
        return False
    return '"builders"' in head


def _target_name(rel: Path, taken: set[str]) -> str:
    """The template's path joined by ``-``, without its template suffix, a part said twice in a row
    said once: ``packer/legacy/legacy.json`` is ``packer-legacy``, ``packer/web`` is ``packer-web``."""
    text = rel.as_posix()
    for suffix in (".pkr.hcl", ".pkr.json", ".json", ".hcl"):
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    parts: list[str] = []
    for part in text.split("/"):
        if part and (not parts or parts[-1] != part):
            parts.append(part)
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(parts))
    base = base.strip("-._") or "main"   # a target name starts and ends with a letter or digit
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def render_config(templates: list[Path]) -> tuple[str, tuple[str, ...]]:
    if not templates:
        return EXAMPLE, ()
    taken: set[str] = set()
    lines = ["# hybridcore.toml: the targets hybridcore-packer builds. Reference: README \"hybridcore.toml\".", ""]
    names = []
    for rel in templates:
        name = _target_name(rel, taken)
        names.append(name)
        template = rel.as_posix() or "."
        lines += [f"[targets.{name}]", f"template = {_toml_str(template)}", ""]
    return "\n".join(lines), tuple(names)


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def init_project(root: Path) -> InitResult:
    config = root / PROJECT_FILE
    if config.exists():
        raise ConfigError(f"{config} already exists; init never overwrites it",
                          hint="edit it, or remove it and run init again")
    text, names = render_config(find_templates(root))
    with open(config, "x", encoding="utf-8") as fh:  # "x": never replace a file created meanwhile
        fh.write(text)
    return InitResult(config_path=config, targets=names, gitignore_added=_ignore(root / ".gitignore"))


def _ignore(gitignore: Path) -> tuple[str, ...]:
    try:
        existing = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    present = {line.strip().lstrip("/").rstrip("/") for line in existing.splitlines()}
    missing = tuple(entry for entry in IGNORED if entry.rstrip("/") not in present)
    if missing:
        sep = "" if not existing or existing.endswith("\n") else "\n"
        with open(gitignore, "a", encoding="utf-8") as fh:
            fh.write(sep + "# hybridcore-packer: local state, logs and artifact records\n"
                     + "".join(f"{entry}\n" for entry in missing))
    return missing
