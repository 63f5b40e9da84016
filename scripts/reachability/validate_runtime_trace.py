#!/usr/bin/env python3
"""Validate a runtime trace (runbook §5): a thin wrapper over `stella trace validate`.

Usage: validate_runtime_trace.py FILE [--manifest manifest.json] [--json]
Exit codes as `stella trace validate`: 0 valid, 6 invalid, 3 manifest hash/size mismatch,
2 unreadable input or usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from stella_signals.cli.stella import app
except ImportError:  # run from a checkout without the package installed in this interpreter
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from stella_signals.cli.stella import app

if __name__ == "__main__":
    app(args=["trace", "validate", *sys.argv[1:]], prog_name="validate_runtime_trace.py")
