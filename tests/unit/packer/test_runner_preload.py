"""The preload thread: what every run needs after Packer exits, imported while Packer runs."""

from __future__ import annotations

import gc
import sys
import threading

from hybridcore import gcpause
from hybridcore.packer import runner
from hybridcore.packer.classify_rules import builtin_rules


def test_preload_imports_records_and_classifier_but_leaves_the_catalogue_unread() -> None:
    builtin_rules.cache_clear()
    gcpause.pause()  # as the console script does: the preload turns the collector back on
    started = threading.Event()
    started.set()
    try:
        runner._preload(started)
        for thread in threading.enumerate():
            if thread.name == "hybridcore-preload":
                thread.join(30)
        assert gc.isenabled()
    finally:
        gcpause.resume()
    assert "hybridcore.packer.records" in sys.modules
    assert "hybridcore.packer.classify" in sys.modules
    # Only a failed run reads rules.toml: a successful one never pays for parsing it.
    assert builtin_rules.cache_info().currsize == 0
