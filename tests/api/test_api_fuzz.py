"""API fuzzing (issue #9, item 2), short pass: schemathesis against the app's own
/openapi.json with a valid token on every case. No 500, every answer of a documented status,
content type, body schema and headers, and every body a route must refuse (wrong media type,
bad JSON, a bad trace, too large...) refused with its documented 4xx problem+json.

`python reliability/api_fuzz.py --examples N` runs the long pass and writes
reliability/results/api_fuzz.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reliability import api_fuzz
from stella_signals.api import _schemas

pytestmark = pytest.mark.slow

#: Per operation and pass (positive, negative; seeded gets half): the whole module stays
#: well under 90 s on the 2-CPU VM.
EXAMPLES = 20


def _failures(result: dict[str, Any]) -> str:
    lines = []
    for label, entry in result["operations"].items():
        for detail in entry["failures"]:
            lines.append(
                f"{label} [{detail['pass']}] {detail['check']} ({detail['status']}): "
                f"{detail['message'][:400]}\n    {detail['curl'][:400]}"
            )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return api_fuzz.run(tmp_path_factory.mktemp("fuzz") / "data", examples=EXAMPLES)


def test_every_documented_operation_is_fuzzed(result: dict[str, Any]) -> None:
    assert result["operations_documented"] >= 27
    assert result["operations_covered"] == result["operations_documented"]
    for label, entry in result["operations"].items():
        passes = set(entry["cases_by_pass"]) | set(entry["passes_not_applicable"])
        assert {"coverage", "positive", "negative"} <= passes, label
        if "{" in label:  # ids and hashes of the seeded objects reach the success paths
            assert entry["cases_by_pass"].get("seeded", 0) > 0, label
    assert result["cases_generated"] > 20 * result["operations_documented"]


def test_no_server_error_and_every_answer_as_documented(result: dict[str, Any]) -> None:
    assert result["failures_total"] == 0, _failures(result)
    assert "500" not in result["statuses_total"]
    # the success paths were reached, not only refusals
    assert {"200", "201", "202", "204"} <= set(result["statuses_total"])


def test_bodies_a_route_must_refuse_get_their_documented_problem(
    result: dict[str, Any],
) -> None:
    explicit = result["explicit"]
    assert len(explicit) >= 40
    wrong = {name: e for name, e in explicit.items() if e["status"] not in e["expected"]}
    assert wrong == {}, _failures(result)
    refused = {e["status"] for e in explicit.values() if e["status"] >= 400}
    assert {400, 404, 413, 415, 422} <= refused


def test_the_result_never_holds_the_token(result: dict[str, Any]) -> None:
    assert "stl_" not in json.dumps(result)


def test_the_checks_catch_an_answer_that_breaks_its_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fuzzing is not vacuous: document /healthz with a field it never sends."""
    broken = {**_schemas.HEALTH, "required": [*_schemas.HEALTH["required"], "uptime"]}
    monkeypatch.setattr(_schemas, "HEALTH", broken)
    import stella_signals.api._app as app_module

    monkeypatch.setattr(app_module, "HEALTH", broken)
    with api_fuzz.open_app(tmp_path / "data", {"fuzz": (["acme"], api_fuzz.ALL_SCOPES)}) as live:
        found = api_fuzz.fuzz(live, None, examples=2, only={"GET /healthz"})
    assert found["failures_by_check"]["response_schema_conformance"] >= 1
