"""The README's hybridcore.toml reference is the one the parser enforces (generated from config_keys)."""

from __future__ import annotations

from pathlib import Path

from hybridcore.packer.config_keys import reference_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_config_key() -> None:
    text = README.read_text()
    start = text.index("<!-- config-keys:start -->\n") + len("<!-- config-keys:start -->\n")
    end = text.index("<!-- config-keys:end -->")
    assert text[start:end] == reference_markdown(), (
        "README's key table is stale: paste the output of `python -m hybridcore.packer.config_keys`")


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text()[:400]
    assert "make demo" in head and "make test" in head
