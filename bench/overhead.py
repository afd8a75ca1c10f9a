"""Wrapper overhead: ``hybridcore-packer validate T`` vs bare ``packer validate`` on the same template.

Kept under this name because the docs cite it; the figures (and ``--version`` and warm ``drift``
beside them) are measured by bench/startup.py, which this runs. ``make bench`` runs everything.
Usage: python bench/overhead.py [--rounds N] [--compare LABEL=SRC]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import startup

if __name__ == "__main__":
    raise SystemExit(startup.main())
