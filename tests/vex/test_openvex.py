"""OpenVEX 0.2.0 output: schema-valid for every state, the SPEC §15 mapping, evidence named,
byte-identical for the same inputs apart from timestamps."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from stella_signals.canonical import canonical_json
from stella_signals.clock import format_utc
from stella_signals.digests import sha256_hex
from stella_signals.errors import InvalidInput
from stella_signals.reach import State
from stella_signals.vex import OPENVEX_CONTEXT, OPENVEX_ID_PREFIX, EmptyVex, render_openvex
from tests.vex._evaluations import (
    AUTHOR,
    CATALOG,
    END,
    GRAPH,
    JINJA,
    PRODUCT,
    START,
    WHEN,
    digest,
    evaluation,
    one_of_each,
    openvex_validator,
    verdict,
    with_verdicts,
)

EXPECTED_STATUS = {
    State.CR: "affected",
    State.RO: "affected",
    State.CU: "not_affected",
    State.U: "under_investigation",
    State.SR: "under_investigation",
    State.SU: "under_investigation",
    State.RU: "under_investigation",
    State.X: "under_investigation",
}
TIMESTAMP_FIELDS = ("timestamp", "action_statement_timestamp")


def render(ev: Any, **kw: Any) -> bytes:
    return render_openvex(ev, **{"product": PRODUCT, "author": AUTHOR, "timestamp": WHEN, **kw})


def only_statement(data: bytes) -> dict[str, Any]:
    document = json.loads(data)
    assert len(document["statements"]) == 1
    statement: dict[str, Any] = document["statements"][0]
    return statement


def without_timestamps(data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(data)
    del document["timestamp"]
    for statement in document["statements"]:
        for name in TIMESTAMP_FIELDS:
            statement.pop(name, None)
    return document


def test_every_state_is_covered_by_the_table() -> None:
    assert set(EXPECTED_STATUS) == set(State)


@pytest.mark.parametrize("state", list(State), ids=[s.value for s in State])
def test_each_state_validates_against_the_schema_and_maps_as_spec_15(state: State) -> None:
    data = render(evaluation(verdict(state)))
    openvex_validator().validate(json.loads(data))
    statement = only_statement(data)
    assert statement["status"] == EXPECTED_STATUS[state]
    assert statement["vulnerability"] == {
        "name": "CVE-2026-0001",
        "aliases": ["GHSA-aaaa-bbbb-cccc"],
    }
    assert statement["products"] == [{"@id": PRODUCT, "subcomponents": [{"@id": JINJA}]}]
    notes = statement["status_notes"]
    for needle in (digest(1), GRAPH, CATALOG, state.value, "SandboxedEnvironment.call"):
        assert needle in notes
    assert statement["timestamp"] == format_utc(WHEN)


def test_the_whole_document_of_every_state_validates() -> None:
    data = render(one_of_each())
    document = json.loads(data)
    openvex_validator().validate(document)
    assert document["@context"] == OPENVEX_CONTEXT
    assert document["author"] == AUTHOR
    assert document["version"] == 1
    names = [s["vulnerability"]["name"] for s in document["statements"]]
    assert names == sorted(names) and len(names) == len(State)


def test_the_schema_refuses_what_we_must_not_write() -> None:
    """The validator used above is not a rubber stamp: an affected statement without an
    action statement, and an unknown status, fail it."""
    document = json.loads(render(evaluation(verdict(State.CR))))
    del document["statements"][0]["action_statement"]
    assert list(openvex_validator().iter_errors(document))
    document = json.loads(render(evaluation(verdict(State.CU))))
    document["statements"][0]["status"] = "exploitable"
    assert list(openvex_validator().iter_errors(document))


def test_not_affected_names_justification_window_and_graph() -> None:
    statement = only_statement(render(evaluation(verdict(State.CU))))
    assert statement["justification"] == "vulnerable_code_not_in_execute_path"
    impact = statement["impact_statement"]
    for needle in (GRAPH, format_utc(START), format_utc(END), "SandboxedEnvironment.call"):
        assert needle in impact
    assert "action_statement" not in statement


@pytest.mark.parametrize("state", [State.CR, State.RO])
def test_affected_names_the_fixed_versions(state: State) -> None:
    statement = only_statement(render(evaluation(verdict(state))))
    assert "3.1.3" in statement["action_statement"]
    assert "3.2.0" in statement["action_statement"]
    assert statement["action_statement_timestamp"] == format_utc(WHEN)
    assert "justification" not in statement and "impact_statement" not in statement


def test_affected_without_a_fix_says_none_is_known() -> None:
    data = render(evaluation(verdict(State.CR, fixed=())))
    openvex_validator().validate(json.loads(data))
    assert "No fixed version" in only_statement(data)["action_statement"]


def test_under_investigation_carries_no_justification_or_action() -> None:
    statement = only_statement(render(evaluation(verdict(State.SU))))
    assert not {"justification", "impact_statement", "action_statement"} & statement.keys()


def test_no_aliases_leaves_the_member_out() -> None:
    statement = only_statement(render(evaluation(verdict(State.SU, aliases=()))))
    assert statement["vulnerability"] == {"name": "CVE-2026-0001"}


def test_the_bytes_are_rfc_8785() -> None:
    data = render(one_of_each())
    assert data == canonical_json(json.loads(data))


def test_same_inputs_give_the_same_bytes() -> None:
    assert render(one_of_each()) == render(one_of_each())


def test_verdict_order_does_not_matter() -> None:
    base = one_of_each()
    reordered = with_verdicts(base, *reversed(base.verdicts))
    assert render(reordered) == render(base)


def test_only_timestamps_change_with_the_time_of_issue() -> None:
    first, second = render(one_of_each()), render(one_of_each(), timestamp=WHEN + timedelta(1))
    assert first != second
    assert without_timestamps(first) == without_timestamps(second)


def test_id_is_the_digest_of_the_document_without_id_and_timestamps() -> None:
    data = render(one_of_each())
    body = without_timestamps(data)
    document_id = body.pop("@id")
    assert document_id == OPENVEX_ID_PREFIX + sha256_hex(canonical_json(body))


def test_id_changes_with_the_evidence() -> None:
    base = evaluation(verdict(State.CR))
    other = evaluation(verdict(State.CR, evidence=(digest(1), digest(2))))
    assert json.loads(render(base))["@id"] != json.loads(render(other))["@id"]
    assert json.loads(render(base))["@id"] != json.loads(render(base, product="pkg:oci/x"))["@id"]


def test_no_verdict_is_refused() -> None:
    with pytest.raises(EmptyVex) as caught:
        render(evaluation())
    assert caught.value.reason == "vex_empty"


def test_a_package_that_is_not_a_purl_is_refused() -> None:
    bad = evaluation(replace(verdict(State.CR), package="jinja2 3.1.2"))
    with pytest.raises(InvalidInput, match="not a package URL") as caught:
        render(bad)
    assert getattr(caught.value, "reason", None) == "vex_package"
