#!/usr/bin/env python3
"""Validate a runtime trace (runbook §5): a thin wrapper over `stella trace validate`.

Usage: validate_runtime_trace.py FILE [--manifest manifest.json] [--json]
Exit codes as `stella trace validate`: 0 valid, 6 invalid, 3 manifest hash/size mismatch,
2 unreadable input or usage error.

Runs with any Python 3: when this interpreter lacks the package or its dependencies, the
script hands over to the checkout's virtual environment (`make venv` creates it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
VENV_PYTHON = CHECKOUT / ".venv" / "bin" / "python"
HANDED_OVER = "STELLA_VALIDATOR_IN_VENV"


def _load_app():  # type: ignore[no-untyped-def]
    try:
        from stella_signals.cli.stella import app
    except ImportError:
        sys.path.insert(0, str(CHECKOUT / "src"))
        try:
            from stella_signals.cli.stella import app
        except ImportError as exc:  # this interpreter lacks the dependencies
            if VENV_PYTHON.exists() and not os.environ.get(HANDED_OVER):
                os.environ[HANDED_OVER] = "1"
                os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])  # noqa: S606
            sys.stderr.write(
                f"validate_runtime_trace.py: cannot import stella-signals ({exc}); "
                f"run `make venv` in {CHECKOUT} first\n"
            )
            raise SystemExit(2) from None
    return app


if __name__ == "__main__":
    _load_app()(args=["trace", "validate", *sys.argv[1:]], prog_name="validate_runtime_trace.py")
