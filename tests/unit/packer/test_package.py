"""``import hybridcore.packer`` stays cheap, and its public names are what DESIGN.md says they are."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import hybridcore.packer as pkg

pytestmark = pytest.mark.unit


def test_importing_the_package_loads_none_of_the_heavy_modules() -> None:
    # A fresh interpreter: this test process has imported everything already.
    code = ("import sys, hybridcore.packer\n"
            "heavy = ['hybridcore.packer.classify', 'hybridcore.packer.secrets', 'hybridcore.packer.api',\n"
            "         'hybridcore.packer.records', 'pydantic', 'rich', 'typer', 'tomllib', 'sqlalchemy']\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_classify_stays_the_function_after_its_submodule_is_imported() -> None:
    import hybridcore.packer.classify  # noqa: F401  # binds the submodule on the package
    from hybridcore.packer import classify

    assert isinstance(classify, types.FunctionType)
    assert classify("", 0).category == "ok"
    assert pkg.classify is classify
    assert isinstance(sys.modules["hybridcore.packer.classify"], types.ModuleType)


def test_lazy_names_resolve_to_their_definitions() -> None:
    from hybridcore.packer import Classification, Secret
    from hybridcore.packer.classify import Classification as C
    from hybridcore.packer.secrets import Secret as S

    assert (Classification, Secret) == (C, S)
    with pytest.raises(AttributeError, match="no_such_name"):
        pkg.no_such_name  # noqa: B018


def test_classify_can_be_monkeypatched_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    original = pkg.classify

    def fake(*args: object, **kwargs: object) -> str:
        return "fake"

    with monkeypatch.context() as m:
        m.setattr(pkg, "classify", fake)
        assert pkg.classify is fake
    assert pkg.classify is original
