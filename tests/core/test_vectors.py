"""Public conformance suites: purl-spec parse cases and RFC 8785 (JCS) known answers.

Sources (tests/vectors/, copied with their licences; see its README): package-url/purl-spec at
16f3d0e39343 (tests/spec/specification-test.json, tests/types/<type>-test.json) and
cyberphone/json-canonicalization at 19d51d7fe467 (testdata/input → testdata/output).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stella_signals.canonical import canonical_json
from stella_signals.trace import parse_trace, purl_problem
from tests.conftest import VECTORS
from tests.trace._lines import line, ndjson


def purl_parse_cases() -> list[Any]:
    cases = []
    for path in sorted((VECTORS / "purl").glob("*.json")):
        for index, case in enumerate(json.loads(path.read_text())["tests"]):
            if case["test_type"] == "parse":
                cases.append(pytest.param(case, id=f"{path.stem}[{index}]"))
    return cases


PURL_CASES = purl_parse_cases()


def test_the_purl_suite_is_there() -> None:
    assert len(PURL_CASES) >= 50


@pytest.mark.parametrize("case", PURL_CASES)
def test_purl_parse_case(case: dict[str, Any]) -> None:
    """The validator rejects exactly the `parse` inputs marked expected_failure."""
    problem = purl_problem(case["input"])
    if case.get("expected_failure"):
        assert problem is not None, case["description"]
    else:
        assert problem is None, (case["description"], problem)


@pytest.mark.parametrize("case", PURL_CASES[:12])
def test_purl_case_through_the_trace_validator(case: dict[str, Any]) -> None:
    report = parse_trace([ndjson(line(purl=case["input"]))])
    assert report.valid is not bool(case.get("expected_failure"))


JCS_INPUTS = sorted((VECTORS / "jcs" / "input").glob("*.json"))


def test_the_jcs_suite_is_there() -> None:
    assert len(JCS_INPUTS) >= 6


@pytest.mark.parametrize("path", JCS_INPUTS, ids=[p.stem for p in JCS_INPUTS])
def test_jcs_known_answer(path: Path) -> None:
    expected = (path.parent.parent / "output" / path.name).read_bytes()
    assert canonical_json(json.loads(path.read_bytes())) == expected
