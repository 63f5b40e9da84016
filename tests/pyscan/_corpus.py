"""The scanner's corpus: one small real program per feature, each with the call edges a
human expects (`expected.json`, by display name)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stella_signals.pyscan import project_sources, scan_sources

CORPUS = Path(__file__).parent / "corpus"
PROGRAMS = sorted(p for p in CORPUS.iterdir() if (p / "expected.json").is_file())


def scan_dir(folder: Path) -> dict[str, Any]:
    files, entry_points = project_sources([folder], None)
    return scan_sources(files, entry_points).document


def call_edges(document: dict[str, Any]) -> set[tuple[str, str]]:
    display = {node["id"]: node["display"] for node in document["nodes"]}
    return {
        (display[edge["from"]], display[edge["to"]])
        for edge in document["edges"]
        if edge["kind"] == "call"
    }


def expected(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "expected.json").read_text())
    return data


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        reported = self.true_positives + self.false_positives
        return self.true_positives / reported if reported else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


def score_corpus(
    programs: list[Path] = PROGRAMS,
) -> tuple[Score, dict[str, dict[str, list[list[str]]]]]:
    """Precision and recall over a whole corpus, and per program what differed."""
    score = Score()
    differences: dict[str, dict[str, list[list[str]]]] = {}
    for folder in programs:
        want = {tuple(edge) for edge in expected(folder)["edges"]}
        got = call_edges(scan_dir(folder))
        score.true_positives += len(got & want)
        score.false_positives += len(got - want)
        score.false_negatives += len(want - got)
        if got != want:
            differences[f"{folder.parent.name}/{folder.name}"] = {
                "unexpected": [list(e) for e in sorted(got - want)],
                "missing": [list(e) for e in sorted(want - got)],
            }
    return score, differences
