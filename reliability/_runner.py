"""What every reliability script does once its run is over: write the result JSON under
``reliability/results/`` (or ``--out``), print it, and exit 1 when the run found a violation."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

RESULTS = Path(__file__).resolve().parent / "results"


def finish(
    result: Mapping[str, Any],
    out: Path,
    *,
    failed: bool,
    shown: Mapping[str, Any] | None = None,
) -> NoReturn:
    """Write ``result`` to ``out``, print it (or the ``shown`` part of it) and exit: 1 when
    the run ``failed``, else 0."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result if shown is None else shown, indent=2))
    sys.exit(1 if failed else 0)


def run_in_tmp(run: Callable[[Path], dict[str, Any]], name: str, description: str) -> NoReturn:
    """The whole ``main`` of a script whose run takes only a scratch directory: ``--out``
    (default ``results/<name>.json``), the run, its violations decide the exit code."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=RESULTS / f"{name}.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp))
    finish(result, args.out, failed=bool(result["violations"]))
