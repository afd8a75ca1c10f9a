"""What a terminal does not show: the patterns compile only for a line that needs them."""

from __future__ import annotations

import re
import sys

from hybridcore.packer import unshown
from hybridcore.packer.console.terminal import clean


def test_public_patterns_are_the_lazily_compiled_ones() -> None:
    assert unshown.TERMINAL_ESCAPES is unshown.escapes()
    assert unshown.TERMINAL_CONTROLS is unshown.controls()
    assert unshown.UNSHOWN is unshown.unshown_token()
    assert unshown.UNSHOWN.pattern == f"({unshown.TERMINAL_ESCAPES.pattern}|{unshown.TERMINAL_CONTROLS.pattern})"
    assert isinstance(unshown.UNSHOWN, re.Pattern)


def test_a_printable_line_compiles_nothing() -> None:
    for getter in (unshown.escapes, unshown.controls, unshown.unshown_token):
        getter.cache_clear()
    assert clean("==> null.bench: Running local shell script") == "==> null.bench: Running local shell script"
    assert not unshown.unshown("The configuration is valid.")
    assert clean("✓ bench: validate ok") == "✓ bench: validate ok"  # printable, though not ASCII
    assert unshown.escapes.cache_info().currsize == unshown.controls.cache_info().currsize == 0
    assert clean("\x1b[31mred\x1b[0m\x07") == "red"
    assert unshown.strip_unshown("a\x1b]8;;https://x\x07b\x00c") == "abc"
    assert unshown.escapes.cache_info().currsize == unshown.controls.cache_info().currsize == 1


def test_every_character_clean_removes_is_unprintable() -> None:
    # clean() skips its substitutions for a printable line: that is only sound if nothing they remove
    # (a control, a bidi override, the tab, the first character of every escape) is printable.
    removed = [c for c in map(chr, range(sys.maxunicode + 1))
               if unshown.controls().match(c) or c in "\t\x1b\x9b\x9d"]
    assert removed and not [c for c in removed if c.isprintable()]
    assert clean("✓ web: validate ok · exit 0") == "✓ web: validate ok · exit 0"
