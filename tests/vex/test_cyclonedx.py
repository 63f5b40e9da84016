"""CycloneDX 1.6 VEX output: valid by cyclonedx-python-lib's own strict validator, the SPEC §15
mapping, evidence named, byte-identical for the same inputs apart from the timestamp."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from cyclonedx.schema import SchemaVersion

from stella_signals.canonical import canonical_json
from stella_signals.digests import sha256_hex
from stella_signals.reach import State
from stella_signals.vex import CYCLONEDX_SERIAL_PREFIX, EmptyVex, render_cyclonedx
from tests.vex._evaluations import (
    CATALOG,
    GRAPH,
    JINJA,
    PRODUCT,
    WHEN,
    YAML,
    digest,
    evaluation,
    one_of_each,
    verdict,
    with_verdicts,
)

EXPECTED_STATE = {
    State.CR: "exploitable",
    State.RO: "exploitable",
    State.CU: "not_affected",
    State.U: "in_triage",
    State.SR: "in_triage",
    State.SU: "in_triage",
    State.RU: "in_triage",
    State.X: "in_triage",
}


def render(ev: Any, **kw: Any) -> bytes:
    return render_cyclonedx(ev, **{"product": PRODUCT, "timestamp": WHEN, **kw})


def validator() -> Any:
    """CycloneDX 1.6's strict JSON validator. Imported here, as jsonschema costs about 1 CPU-s
    to import (its IRI format checker builds a grammar): every test worker would pay it while
    collecting."""
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SchemaVersion.V1_6)


def validate(data: bytes) -> None:
    error = validator().validate_str(data.decode())
    assert error is None, error


def without_timestamp(data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(data)
    del document["metadata"]["timestamp"]
    return document


def test_the_validator_is_not_a_rubber_stamp() -> None:
    document = json.loads(render(evaluation(verdict(State.CU))))
    document["vulnerabilities"][0]["analysis"]["state"] = "affected"  # OpenVEX's word, not CDX
    error = validator().validate_str(json.dumps(document))
    assert error is not None


@pytest.mark.parametrize("state", list(State), ids=[s.value for s in State])
def test_each_state_validates_and_maps_as_spec_15(state: State) -> None:
    data = render(evaluation(verdict(state)))
    validate(data)
    document = json.loads(data)
    (vulnerability,) = document["vulnerabilities"]
    assert vulnerability["id"] == "CVE-2026-0001"
    assert vulnerability["analysis"]["state"] == EXPECTED_STATE[state]
    assert vulnerability["affects"] == [{"ref": JINJA}]
    (component,) = document["components"]
    assert component == {
        "bom-ref": JINJA,
        "name": "jinja2",
        "purl": JINJA,
        "type": "library",
        "version": "3.1.2",
    }
    detail = vulnerability["analysis"]["detail"]
    for needle in (digest(1), GRAPH, CATALOG, state.value, "SandboxedEnvironment.call"):
        assert needle in detail
    if state is State.CU:
        assert vulnerability["analysis"]["justification"] == "code_not_reachable"
    else:
        assert "justification" not in vulnerability["analysis"]
    if state in (State.CR, State.RO):
        assert "3.1.3" in vulnerability["recommendation"]


def test_the_whole_document_validates_and_describes_the_product() -> None:
    data = render(one_of_each())
    validate(data)
    document = json.loads(data)
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["component"]["bom-ref"] == PRODUCT
    assert document["metadata"]["component"]["purl"] == PRODUCT
    assert len(document["vulnerabilities"]) == len(State)
    assert [d for d in document["dependencies"] if d["ref"] == PRODUCT] == [
        {"ref": PRODUCT, "dependsOn": [JINJA]}
    ]


def test_two_packages_two_components_and_a_product_that_is_not_a_purl() -> None:
    ev = evaluation(verdict(State.CR), verdict(State.CU, "yaml:load", package=YAML))
    data = render(ev, product="shop-frontend")
    validate(data)
    document = json.loads(data)
    assert sorted(c["bom-ref"] for c in document["components"]) == [JINJA, YAML]
    assert "purl" not in document["metadata"]["component"]


def test_the_bytes_are_rfc_8785_and_repeatable() -> None:
    data = render(one_of_each())
    assert data == canonical_json(json.loads(data))
    assert render(one_of_each()) == data
    base = one_of_each()
    assert render(with_verdicts(base, *reversed(base.verdicts))) == data


def test_only_the_timestamp_changes_with_the_time_of_issue() -> None:
    first, second = render(one_of_each()), render(one_of_each(), timestamp=WHEN + timedelta(1))
    assert first != second
    assert without_timestamp(first) == without_timestamp(second)


def test_the_serial_number_is_derived_from_the_content() -> None:
    document = without_timestamp(render(one_of_each()))
    serial = document.pop("serialNumber")
    content = sha256_hex(canonical_json(document))
    assert serial == f"urn:uuid:{uuid5(NAMESPACE_URL, CYCLONEDX_SERIAL_PREFIX + content)}"
    other = json.loads(render(evaluation(verdict(State.CR, evidence=(digest(9),)))))
    assert other["serialNumber"] != serial


def test_no_verdict_is_refused() -> None:
    with pytest.raises(EmptyVex):
        render(evaluation())
