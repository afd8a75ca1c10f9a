"""Public API: ``fmt``, ``validate``, ``build`` (see DESIGN.md), plus ``classify``, ``Secret`` and
``DriftDetected``. Everything but the exceptions loads on first use, so ``import hybridcore.packer``
(which every command, ``--version`` included, pays) stays cheap."""

from __future__ import annotations

import sys
import types
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

if TYPE_CHECKING:
    from hybridcore.packer.api import build, drift, fmt, validate
    from hybridcore.packer.classify import Classification, classify
    from hybridcore.packer.driftcheck import DriftReport
    from hybridcore.packer.records import ArtifactRecord, CommandResult
    from hybridcore.packer.secrets import Secret

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
    "Classification": "hybridcore.packer.classify",
    "Secret": "hybridcore.packer.secrets",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hybridcore.packer' has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package, with ``classify`` loaded on first use like the other public names.

    ``classify`` needs more than ``__getattr__``: the function shares its name with the submodule
    ``hybridcore.packer.classify``, and importing a submodule binds it as an attribute of its
    package, which would then shadow the function. The property keeps the public name the
    function; anything else assigned to it (a test's monkeypatch) is kept and returned instead.
    Loading the classifier eagerly cost every command, ``--version`` included, a third of this
    package's import time (its rules, ``tomllib``, ``importlib.resources``; bench/startup.py)."""

    @property
    def classify(self) -> Any:
        override = self.__dict__.get("_classify_override")
        if override is not None:
            return override
        from hybridcore.packer.classify import classify

        return classify

    @classify.setter
    def classify(self, value: Any) -> None:
        if isinstance(value, types.ModuleType):
            return  # the import system binding the submodule: the public name stays the function
        self.__dict__["_classify_override"] = value

    @classify.deleter
    def classify(self) -> None:
        self.__dict__.pop("_classify_override", None)


sys.modules[__name__].__class__ = _Package
