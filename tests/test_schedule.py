"""The scheduling of `make pytest` (tests/_schedule.py): its units and their order, and every
module or test it names still exists (a renamed test would silently lose its place)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests._schedule import DETACHED, SPLIT, WEIGHTS, cost_of, scope_of

REPO = Path(__file__).resolve().parents[1]


def _names(module: str) -> set[str]:
    tree = ast.parse((REPO / module).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


@pytest.mark.parametrize("key", sorted(SPLIT | DETACHED | set(WEIGHTS)))
def test_every_named_module_and_test_exists(key: str) -> None:
    module, _, test = key.partition("::")
    assert (REPO / module).is_file(), key
    if test:
        assert test in _names(module), key


def test_units_are_modules_classes_or_split_tests() -> None:
    assert scope_of("tests/core/test_ids.py::test_x[a]") == "tests/core/test_ids.py"
    assert scope_of("tests/x.py::TestA::test_b[1]") == "tests/x.py::TestA"
    split = (
        "tests/api/test_staging_sweep.py::test_a_restart_sweeps_the_part_file_a_kill_left[embedded]"
    )
    assert scope_of(split) == split
    detached = next(iter(DETACHED)) + "[postgres-s3]"
    assert scope_of(detached) == detached
    shared = detached.rsplit("::", 1)[0] + "::test_stella_ingest_and_timeline_verify[embedded]"
    assert scope_of(shared) == detached.split("::")[0]


def test_costs_come_from_the_table_else_per_test() -> None:
    split = "tests/api/test_staging_sweep.py::test_a_restart_sweeps_the_part_file_a_kill_left"
    split += "[postgres-s3]"
    assert cost_of(split, 1) == WEIGHTS[split.split("[")[0]]
    assert cost_of("tests/api/test_api_fuzz.py", 5) == WEIGHTS["tests/api/test_api_fuzz.py"]
    assert cost_of("tests/core/test_unlisted.py", 40) == pytest.approx(40 * 0.05)
