"""JSON Schemas of the records and ``--json`` documents hybridcore publishes, generated from the models
(``records`` for the response object and artifact records, ``console.shapes`` for every other output).

``python -m hybridcore.packer.schemas schemas/`` rewrites the committed copies; a golden test fails
when they differ, so every schema change is a deliberate, reviewed diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from hybridcore.packer.console.shapes import SHAPES
from hybridcore.packer.records import ArtifactRecord, CommandResult

SCHEMAS: dict[str, type[Any]] = {
    "artifact-record.schema.json": ArtifactRecord,
    "command-result.schema.json": CommandResult,
    **SHAPES,
}


def render(model: type[Any], name: str) -> str:
    # TypeAdapter reads the records' dataclasses and the shapes' models alike.
    schema = TypeAdapter(model).json_schema(mode="serialization")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$id": f"https://hybridcore.dev/schemas/{name}", **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = out / name
        path.write_text(render(model, name))
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for p in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(p)
