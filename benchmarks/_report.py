"""What every benchmark script writes when it is done: its JSON result under
`benchmarks/results/` and its Markdown section of `benchmarks/README.md`, between its own
begin/end markers (added under ``heading`` on the first run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"


def publish(name: str, result: dict[str, Any], body: str, *, heading: str) -> None:
    """Write ``results/<name>-latest.json`` and replace the ``<name>`` section of the README."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = README.read_text()
    if begin not in text:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    README.write_text(f"{head}{begin}\n{body}\n{end}{tail}")
