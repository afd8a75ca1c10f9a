"""Public API: ``fmt``, ``validate``, ``build`` (see DESIGN.md), plus ``classify``, ``Secret`` and
``DriftDetected``. Heavy modules load on first use so ``import hybridcore.packer`` stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hybridcore.errors import (
    ConfigError,
    DriftDetected,
    HybridcoreError,
    MalformedVar,
    PackerNotFound,
    PackerVersionError,
    StateError,
    TemplateNotFound,
    UnknownTarget,
)

# Bound eagerly (the engine is stdlib only): importing a submodule sets the package attribute of its
# name, so a lazily bound ``classify`` would turn into the module ``hybridcore.packer.classify`` as
# soon as anything imported that module first.
from hybridcore.packer.classify import Classification, classify
from hybridcore.packer.secrets import Secret

if TYPE_CHECKING:
    from hybridcore.packer.api import build, drift, fmt, validate
    from hybridcore.packer.driftcheck import DriftReport
    from hybridcore.packer.records import ArtifactRecord, CommandResult

__all__ = [
    "ArtifactRecord",
    "Classification",
    "CommandResult",
    "ConfigError",
    "DriftDetected",
    "DriftReport",
    "HybridcoreError",
    "MalformedVar",
    "PackerNotFound",
    "PackerVersionError",
    "Secret",
    "StateError",
    "TemplateNotFound",
    "UnknownTarget",
    "build",
    "classify",
    "drift",
    "fmt",
    "validate",
]

_LAZY = {
    "build": "hybridcore.packer.api", "fmt": "hybridcore.packer.api", "validate": "hybridcore.packer.api",
    "drift": "hybridcore.packer.api", "DriftReport": "hybridcore.packer.driftcheck",
    "CommandResult": "hybridcore.packer.records",
    "ArtifactRecord": "hybridcore.packer.records",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hybridcore.packer' has no attribute {name!r}")
