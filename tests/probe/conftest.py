"""The probe under test is this repository's (``probe/src``), whether or not the venv has it
installed (``make venv`` does, editable)."""

from __future__ import annotations

import sys
from pathlib import Path

PROBE_SRC = str(Path(__file__).resolve().parents[2] / "probe" / "src")
if PROBE_SRC not in sys.path:
    sys.path.insert(0, PROBE_SRC)
