"""The verdict engine on a real scanned program and real probe traces (tests/reach/_program.py):
every state of SPEC §15, the evidence each verdict names, the unknowns, and two properties
(runtime evidence never turns "affected" into "not affected"; same inputs, same evaluation)."""

from __future__ import annotations

import json
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stella_signals.graph import GraphIndex
from stella_signals.ports import FactRow
from stella_signals.pyscan import symbol_id
from stella_signals.reach import (
    CONFIDENCE,
    Evaluation,
    IngestEvidence,
    ObservedEdge,
    State,
    Verdict,
    evaluate,
    parse_catalog,
    target_symbol_id,
    watches_whole_window,
)
from tests._examples import examples
from tests.reach import _program

#: Starts Python interpreters (the probe, another venv, a traced run): e2e, not unit
#: (tests/_tiers.py, docs/testing.md).
pytestmark = pytest.mark.e2e


NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
PKG = "pkg:pypi/vulnlib@1.2"

CATALOG = parse_catalog(
    json.dumps(
        {
            "schema": "stella.vuln-catalog/v1",
            "entries": [
                {"vuln_id": f"V-{name}", "aliases": [f"CVE-2026-{n}"],
                 "package": "pkg:pypi/VulnLib",
                 "affected": ">=1.0,<1.3", "fixed": ["1.3"], "symbols": [f"vulnlib.core:{func}"]}
                for n, (name, func) in enumerate([
                    ("CR", "used"), ("RU", "reachable_not_run"), ("CU", "unused"),
                    ("X", "dynamic"), ("SR", "reachable_unwatched"), ("SU", "unused_unwatched"),
                    ("U", "ghost"), ("RO", "generated"),
                ])
            ]
            + [
                {"vuln_id": "V-PKG", "package": "pkg:pypi/vulnlib", "affected": "<2"},
                {"vuln_id": "V-OLD", "package": "pkg:pypi/oldlib", "affected": "<2",
                 "symbols": ["oldlib:old"]},
                {"vuln_id": "V-OLD", "package": "pkg:pypi/oldlib", "affected": ">=3.1"},
            ],
        }
    ).encode()
)  # fmt: skip


class World:
    def __init__(self, root: Path) -> None:
        python, project = _program.make_world(root)
        self.index = _program.scan(python, project)
        targets = root / "targets.txt"
        targets.write_text("\n".join(_program.TARGETS) + "\n")
        self.targeted = _program.run(python, project, root / "t", "--targets", str(targets))
        self.discovery = _program.run(python, project, root / "d", "--mode", "discovery",
                                      "--sample", "100/0")  # fmt: skip
        t = [_program.ingest(self.index, w, f"t{i}") for i, w in enumerate(self.targeted)]
        d = [_program.ingest(self.index, w, f"d{i}") for i, w in enumerate(self.discovery)]
        self.targeted_ingests, self.discovery_ingests = t, d
        # The targets are watched from the first window that began after vulnlib was
        # imported (the first one, unless the machine is very slow); the evaluation window
        # starts there. The calls come 2.5 windows after the import: inside it.
        first = next(i for i, w in enumerate(self.targeted)
                     if w.manifest.extra.get("targets_watched_whole_window"))  # fmt: skip
        assert first >= 1, "the import happened before the probe's first window began"
        self.watching = t[first:]
        self.since = self.targeted[first - 1].manifest.window_end + timedelta(microseconds=1500)

    def evaluate(self, ingests: list[IngestEvidence], **kw: object) -> Evaluation:
        options: dict[str, object] = {"since": self.since, "until": None, "computed_at": NOW}
        options.update(kw)
        return evaluate(CATALOG, self.index, ingests, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("reach"))


def by_vuln(evaluation: Evaluation) -> dict[str, Verdict]:
    verdicts = {v.vuln_id: v for v in evaluation.verdicts}
    assert len(verdicts) == len(evaluation.verdicts)
    return verdicts


def test_every_state_from_a_real_program_under_the_targeted_probe(world: World) -> None:
    evaluation = world.evaluate(world.targeted_ingests)
    verdicts = by_vuln(evaluation)
    states = {vuln: v.state for vuln, v in verdicts.items()}
    assert states == {
        "V-CR": State.CR, "V-RU": State.RU, "V-CU": State.CU, "V-X": State.X,
        "V-SR": State.SR, "V-SU": State.SU, "V-U": State.U,
        # generated() ran, but the targeted probe did not watch it (no def in the source)
        "V-RO": State.U,
        "V-PKG": State.CR,
    }  # fmt: skip
    assert "V-OLD" not in verdicts  # oldlib 3.0 is outside both affected ranges
    for verdict in verdicts.values():
        assert verdict.package == PKG
        assert verdict.confidence == CONFIDENCE[verdict.state]
        assert verdict.graph_hash == world.index.graph_hash
        assert verdict.window_start == world.since
        assert verdict.fixed == ("1.3",) or verdict.vuln_id == "V-PKG"


def test_a_reached_target_has_the_shortest_path_from_a_root(world: World) -> None:
    verdicts = by_vuln(world.evaluate(world.targeted_ingests))
    assert verdicts["V-CR"].path_display == ("app", "app.main", "app.handler", "vulnlib.core.used")
    ids = world.index.node_ids
    displays = dict(zip(world.index.node_displays, ids, strict=True))
    assert verdicts["V-CR"].path == tuple(displays[d] for d in verdicts["V-CR"].path_display)
    assert verdicts["V-SR"].path_display == ("app", "app.main", "app.maybe",
                                             "vulnlib.core.reachable_unwatched")  # fmt: skip
    # a package-level entry: the first node of the package the search from the roots meets,
    # here its first root in index order (vulnlib and vulnlib.core are both load roots)
    first_root = min(r for r in world.index.roots if world.index.node_purls[r] == PKG)
    assert verdicts["V-PKG"].path == (world.index.node_ids[first_root],)
    for state in ("CU", "SU", "X", "U"):
        assert verdicts[f"V-{state}"].path == ()


def test_runtime_evidence_names_the_hits_ingests_and_receipts(world: World) -> None:
    verdicts = by_vuln(world.evaluate(world.targeted_ingests))
    used = verdicts["V-CR"]
    used_id = target_symbol_id(PKG, "vulnlib.core:used")
    hit = [i for i in world.targeted_ingests if any(f.symbol_id == used_id for f in i.facts)]
    assert used.runtime.hits == len(hit) >= 1  # targeted: one hit per window it ran in
    assert used.runtime.ingest_ids == tuple(sorted(i.ingest_id for i in hit))
    assert used.evidence_digests == tuple(sorted(i.receipt_digest for i in hit))
    assert used.runtime.first_seen is not None and used.runtime.first_seen > world.since
    # RU and CU name every receipt whose manifest watched the target
    watched = tuple(sorted(i.receipt_digest for i in world.watching))
    assert verdicts["V-CU"].evidence_digests == watched
    assert verdicts["V-RU"].evidence_digests == watched
    assert verdicts["V-CU"].runtime.hits == 0
    assert verdicts["V-SR"].evidence_digests == verdicts["V-U"].evidence_digests == ()


def test_unknowns_target_not_scanned_and_disagreement(world: World) -> None:
    evaluation = world.evaluate(world.targeted_ingests)
    kinds = {(u.kind, u.vuln_id, u.symbol) for u in evaluation.unknowns}
    assert ("target_not_scanned", "V-U", "vulnlib.core:ghost") in kinds
    assert ("target_not_scanned", "V-RO", "vulnlib.core:generated") in kinds
    assert ("disagreement", "V-X", "vulnlib.core:dynamic") in kinds
    assert evaluation.evidence_digests == tuple(sorted(i.receipt_digest for i in world.watching))
    assert len(evaluation.manifest_digests) == len(world.watching)


def test_the_first_window_did_not_watch_the_targets_so_nothing_is_claimed_not_run(
    world: World,
) -> None:
    """Its manifest lists no target as watched for the whole window (the module loaded
    during it): with it in the window, RU and CU fall back to static-only states."""
    states = {
        v.vuln_id: v.state for v in world.evaluate(world.targeted_ingests, since=None).verdicts
    }
    assert states["V-RU"] is State.SR
    assert states["V-CU"] is State.SU
    assert states["V-CR"] is State.CR


def test_discovery_traces_observe_unscanned_code_and_never_support_did_not_run(
    world: World,
) -> None:
    evaluation = world.evaluate(world.discovery_ingests, since=None)
    states = {v.vuln_id: v.state for v in evaluation.verdicts}
    assert states["V-RO"] is State.RO  # compiled at run time: in no scanned code, but it ran
    assert states["V-CR"] is State.CR
    assert states["V-X"] is State.X
    assert states["V-CU"] is State.SU  # a discovery manifest never says "watched"
    assert states["V-RU"] is State.SR
    both = world.evaluate(world.targeted_ingests + world.discovery_ingests)
    assert by_vuln(both)["V-CU"].state is State.SU  # one discovery manifest is enough to stop CU
    unknowns = {(u.kind, u.symbol) for u in evaluation.unknowns}
    generated = symbol_id("vulnlib", "vulnlib.core", "generated")
    dynamic = symbol_id("vulnlib", "vulnlib.core", "dynamic")
    assert ("unmapped_symbol", generated) in unknowns
    assert ("unexpected_edge", dynamic) in unknowns  # main → dynamic: getattr, no graph edge
    assert ("unexpected_edge", generated) in unknowns
    confirmed = symbol_id("", "app", "handler")
    assert not any(u.symbol == confirmed for u in evaluation.unknowns)


def test_no_graph_makes_every_entry_unknown(world: World) -> None:
    evaluation = evaluate(
        CATALOG, None, world.targeted_ingests, since=None, until=None, computed_at=NOW
    )
    assert {v.state for v in evaluation.verdicts} == {State.U}
    assert {v.package for v in evaluation.verdicts} == {"pkg:pypi/vulnlib", "pkg:pypi/oldlib"}
    assert evaluation.graph_hash == ""
    assert all(v.confidence == 0.0 for v in evaluation.verdicts)


def test_manifest_rules_for_did_not_run(world: World) -> None:
    manifest = world.watching[0].manifest
    assert manifest is not None
    texts = ("vulnlib.core:unused", target_symbol_id(PKG, "vulnlib.core:unused"))
    assert watches_whole_window(manifest, texts)
    assert watches_whole_window(manifest, texts[1:]) is False  # listed by its text only
    extra = dict(manifest.extra)
    for change in ({"disabled": True}, {"counts": "incomplete"},
                   {"targets_watched_whole_window": []}):  # fmt: skip
        assert not watches_whole_window(replace(manifest, extra={**extra, **change}), texts)
    assert not watches_whole_window(replace(manifest, dropped=1), texts)
    assert not watches_whole_window(replace(manifest, mode="discovery"), texts)
    # one window whose probe dropped records is enough to lose CU
    spoiled = list(world.targeted_ingests)
    spoiled[-1] = replace(spoiled[-1], manifest=replace(manifest, dropped=3))
    assert by_vuln(world.evaluate(spoiled))["V-CU"].state is State.SU


def test_the_window_bounds_which_ingests_count(world: World) -> None:
    last = world.targeted_ingests[-1].received_at
    evaluation = world.evaluate(world.targeted_ingests, since=last, until=last)
    assert evaluation.evidence_digests == (world.targeted_ingests[-1].receipt_digest,)
    empty = world.evaluate(world.targeted_ingests, since=last + timedelta(seconds=1))
    states = {v.vuln_id: v.state for v in empty.verdicts}
    assert states["V-CR"] is State.SR and states["V-CU"] is State.SU
    assert empty.evidence_digests == ()


def test_an_open_window_starts_where_the_evidence_does(world: World) -> None:
    evaluation = world.evaluate(world.watching, since=None)
    first = min(i.manifest.window_start for i in world.watching if i.manifest)
    assert evaluation.window_start == first
    assert {v.window_start for v in evaluation.verdicts} == {first}
    assert world.evaluate([], since=None).window_start is None


def test_shortest_path_ties_break_by_root_then_edge_order() -> None:
    """0 and 1 are roots; 3 is reachable 0→2→3 and 1→3; 4 by 0→2→4 and 1→3→4."""
    dist, module = "lib", "lib.m"
    names = ["r0", "r1", "a", "b", "target"]
    index = GraphIndex(
        graph_hash="blake3:" + "0" * 64,
        node_ids=[f"n{i}" for i in range(5)],
        node_symbols=[symbol_id(dist, module, n) for n in names],
        node_purls=["pkg:pypi/lib@1.0"] * 5,
        by_symbol={symbol_id(dist, module, n): i for i, n in enumerate(names)},
        by_code={},
        edge_from=array("I", [0, 1, 2, 2, 3]),
        edge_to=array("I", [2, 3, 3, 4, 4]),
        roots=array("I", [1, 0]),
        node_displays=[f"{module}.{n}" for n in names],
    )
    catalog = parse_catalog(json.dumps({"schema": "stella.vuln-catalog/v1", "entries": [
        {"vuln_id": "V", "package": "pkg:pypi/lib", "affected": "", "symbols": [
            "lib.m:target", "lib.m:b"]}]}).encode())  # fmt: skip
    evaluation = evaluate(catalog, index, [], since=None, until=None, computed_at=NOW)
    paths = {v.symbol: v.path for v in evaluation.verdicts}
    assert paths["lib.m:b"] == ("n1", "n3")
    assert paths["lib.m:target"] == ("n0", "n2", "n4")  # roots enter in index order: 0 first
    # edges not sorted by caller (an index built by hand): the same paths
    shuffled = replace(index, edge_from=array("I", [3, 2, 2, 1, 0]),
                       edge_to=array("I", [4, 4, 3, 3, 2]))  # fmt: skip
    again = evaluate(catalog, shuffled, [], since=None, until=None, computed_at=NOW)
    assert {v.symbol: v.path for v in again.verdicts} == paths
    # an observed edge the graph has is no unknown; one it lacks is
    ingest = IngestEvidence(ingest_id="i", receipt_digest="sha256:" + "1" * 64, received_at=NOW,
                            edges=(ObservedEdge(names_id(0), names_id(2)),
                                   ObservedEdge(names_id(4), names_id(0), 2)))  # fmt: skip
    unknowns = evaluate(catalog, index, [ingest], since=None, until=None, computed_at=NOW).unknowns
    assert [(u.kind, u.symbol) for u in unknowns] == [("unexpected_edge", names_id(0))]


def names_id(i: int) -> str:
    return symbol_id("lib", "lib.m", ["r0", "r1", "a", "b", "target"][i])


# -- properties -------------------------------------------------------------------------------

SETTINGS = settings(max_examples=examples(40), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@st.composite
def extra_evidence(draw: st.DrawFn, world: World) -> list[IngestEvidence]:
    pool = [f for i in world.targeted_ingests + world.discovery_ingests for f in i.facts]
    manifests = [i.manifest for i in world.targeted_ingests + world.discovery_ingests]
    out = []
    for n in range(draw(st.integers(0, 3))):
        facts = draw(st.lists(st.sampled_from(pool), max_size=8))
        hits = draw(st.integers(1, 1000))
        out.append(IngestEvidence(
            ingest_id=f"extra{n}", receipt_digest=f"sha256:{n:064x}",
            received_at=world.since + timedelta(seconds=draw(st.integers(0, 60))),
            manifest=draw(st.sampled_from([None, *manifests])),
            facts=tuple(FactRow(f.symbol_id, f.purl, f.container, hits, f.first_seen,
                                f.last_seen, f.node) for f in facts),
        ))  # fmt: skip
    return out


def test_adding_runtime_evidence_never_turns_affected_into_not_affected(world: World) -> None:
    @SETTINGS
    @given(base=st.sets(st.integers(0, len(world.targeted_ingests) - 1)),
           extra=extra_evidence(world))  # fmt: skip
    def check(base: set[int], extra: list[IngestEvidence]) -> None:
        ingests = [world.targeted_ingests[i] for i in sorted(base)]
        before = {v.key: v.state for v in world.evaluate(ingests).verdicts}
        after = {v.key: v.state for v in world.evaluate(ingests + extra).verdicts}
        assert before.keys() == after.keys()  # candidates depend on the graph alone
        for key, state in before.items():
            if state.affected:
                assert after[key].affected, (key, state, after[key])
                assert after[key] is not State.CU

    check()


def test_same_inputs_give_an_equal_evaluation(world: World) -> None:
    everything = world.targeted_ingests + world.discovery_ingests

    @SETTINGS
    @given(order=st.permutations(range(len(everything))), seed=st.randoms())
    def check(order: list[int], seed: object) -> None:
        shuffled = []
        for i in order:
            facts = list(everything[i].facts)
            seed.shuffle(facts)  # type: ignore[attr-defined]
            shuffled.append(replace(everything[i], facts=tuple(facts)))
        first = world.evaluate(everything, since=None)
        again = world.evaluate(shuffled, since=None)
        assert again == first
        assert json.dumps(again.to_json()) == json.dumps(first.to_json())

    check()
