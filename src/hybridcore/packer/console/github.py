"""Handing artifact records to CI: GitHub Actions reads step outputs from the file in $GITHUB_OUTPUT."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def github_output_lines(records: Sequence[Mapping[str, Any]]) -> str:
    """``artifacts=<json>`` plus ``image_ids_<target>=<comma list>`` per target, as heredoc blocks so
    any value is safe (GitHub's multi-line syntax with a random delimiter)."""
    outputs: dict[str, str] = {"artifacts": json.dumps(list(records), separators=(",", ":"))}
    for rec in records:
        key = "image_ids_" + "".join(c if c.isalnum() else "_" for c in str(rec.get("target", "")))
        outputs.setdefault(key, ",".join(rec.get("image_ids") or []))
    lines = []
    for name, value in outputs.items():
        delim = f"ghadelim_{uuid.uuid4().hex}"
        lines.append(f"{name}<<{delim}\n{value}\n{delim}\n")
    return "".join(lines)


def append_github_output(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(github_output_lines(records))
