"""Several verdicts of one (vulnerability, package), one per symbol, merge into one statement:
the worst wins (affected > under_investigation > not_affected), not_affected only when every
symbol is CU."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stella_signals.reach import State
from stella_signals.vex import VexStatus, render_openvex, status_of, vex_statements
from tests.vex._evaluations import (
    AUTHOR,
    JINJA,
    PRODUCT,
    WHEN,
    YAML,
    digest,
    evaluation,
    openvex_validator,
    verdict,
)

RANK = {VexStatus.NOT_AFFECTED: 0, VexStatus.UNDER_INVESTIGATION: 1, VexStatus.AFFECTED: 2}

CASES = [
    ((State.CU, State.CU), VexStatus.NOT_AFFECTED),
    ((State.CU, State.SU), VexStatus.UNDER_INVESTIGATION),
    ((State.CU, State.U), VexStatus.UNDER_INVESTIGATION),
    ((State.CU, State.X), VexStatus.UNDER_INVESTIGATION),
    ((State.CU, State.CR), VexStatus.AFFECTED),
    ((State.SR, State.RO), VexStatus.AFFECTED),
    ((State.RU, State.SR, State.SU), VexStatus.UNDER_INVESTIGATION),
    ((State.CU, State.CU, State.RO), VexStatus.AFFECTED),
]


@pytest.mark.parametrize(("states", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_the_worst_verdict_wins(states: tuple[State, ...], expected: VexStatus) -> None:
    ev = evaluation(*(verdict(s, f"jinja2.m{i}:f") for i, s in enumerate(states)))
    (statement,) = vex_statements(ev)
    assert statement.status is expected
    assert statement.symbols == tuple(sorted(f"jinja2.m{i}:f" for i in range(len(states))))


def test_one_statement_per_vulnerability_and_package() -> None:
    ev = evaluation(
        verdict(State.CU, "jinja2.a:f", evidence=(digest(3),)),
        verdict(State.CU, "jinja2.b:g", evidence=(digest(2), digest(3))),
        verdict(State.CR, "yaml:load", package=YAML, evidence=(digest(4),)),
        verdict(State.SU, "jinja2.a:f", vuln_id="CVE-2026-0009"),
    )
    statements = vex_statements(ev)
    assert [(s.vuln_id, s.package) for s in statements] == [
        ("CVE-2026-0001", JINJA),
        ("CVE-2026-0001", YAML),
        ("CVE-2026-0009", JINJA),
    ]
    assert statements[0].evidence_digests == (digest(2), digest(3))
    document = json.loads(render_openvex(ev, product=PRODUCT, author=AUTHOR, timestamp=WHEN))
    openvex_validator().validate(document)
    notes = document["statements"][0]["status_notes"]
    assert "jinja2.a:f CU" in notes and "jinja2.b:g CU" in notes
    assert digest(2) in notes and digest(3) in notes


def test_aliases_and_fixed_versions_are_unioned_in_catalog_order() -> None:
    ev = evaluation(
        verdict(State.CR, "jinja2.a:f", aliases=("GHSA-1",), fixed=("3.1.3",)),
        verdict(State.CR, "jinja2.b:g", aliases=("GHSA-1", "PYSEC-2"), fixed=("3.1.3", "3.2")),
    )
    (statement,) = vex_statements(ev)
    assert statement.aliases == ("GHSA-1", "PYSEC-2")
    assert statement.fixed == ("3.1.3", "3.2")


def test_a_package_level_entry_is_named_as_the_whole_package() -> None:
    (statement,) = vex_statements(evaluation(verdict(State.RO, "")))
    assert statement.symbols == ("(whole package)",)


@given(
    st.lists(st.sampled_from(list(State)), min_size=1, max_size=6),
    st.sampled_from(list(State)),
)
def test_another_verdict_never_makes_a_statement_less_affected(
    states: list[State], extra: State
) -> None:
    """Merging is monotone: a further symbol's verdict can only keep or raise the status, so
    new evidence for one symbol never turns an affected package into not_affected."""

    def merged(all_states: list[State]) -> VexStatus:
        ev = evaluation(*(verdict(s, f"jinja2.m{i}:f") for i, s in enumerate(all_states)))
        (statement,) = vex_statements(ev)
        return statement.status

    before, after = merged(states), merged([*states, extra])
    assert RANK[after] >= RANK[before]
    assert RANK[after] == max(RANK[status_of(s)] for s in [*states, extra])
    assert (after is VexStatus.NOT_AFFECTED) == all(s is State.CU for s in [*states, extra])
