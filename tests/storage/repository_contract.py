"""The contract of each metadata port (`ports.TokenStore`, `GraphStore`, `IngestStore`,
`OrphanQueue`, `TimelineStore`, `TrustStore`, `ServiceKeyStore`, `SyncStore`,
`VerdictStore`): every backend passes these suites unchanged.

Subclass a ``...Contract`` in a ``Test...`` class and provide a ``repo`` fixture (a
`Repository`: the suites build their cases through the other ports too); pytest collects
every case below for that backend (``test_repository_contract.py``: memory, SQLite,
PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from stella_signals.attest import new_service_key_pem
from stella_signals.errors import Conflict
from stella_signals.ports import (
    ORPHAN_FIRST_DELAY,
    CatalogRecord,
    EdgeObservation,
    EdgeRow,
    EvaluationRecord,
    EventDraft,
    FactRow,
    GraphRecord,
    IngestRecord,
    KeyPurpose,
    OrphanItem,
    Repository,
    SymbolManifestRecord,
    TenantPolicy,
    TrustedKey,
    VerdictChange,
    VerdictRow,
    VexRecord,
)
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent, check_chain

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACME, GLOBEX = TenantId("acme"), TenantId("globex")
GRAPH = "sha256:" + "a" * 64
OTHER_GRAPH = "sha256:" + "b" * 64


def draft(n: int, kind: str = "reach.graph.ingested", **attributes: object) -> EventDraft:
    return EventDraft(
        event_id=f"01M8EF{n:020d}",
        event_type=kind,
        occurred_at=NOW + timedelta(seconds=n),
        source="test",
        correlation_id=None,
        attributes={"n": n, **attributes},
    )


def ingest(
    n: int,
    *,
    tenant: TenantId = ACME,
    status: str = "ingested",
    graph: str = GRAPH,
    content: int | None = None,
    event: int | None = None,
) -> IngestRecord:
    return IngestRecord(
        ingest_id=f"01M8EG{n:020d}",
        tenant=tenant,
        status=status,
        received_at=NOW,
        content_sha256=f"{n if content is None else content:064x}",
        graph_hash=graph,
        size=10 + n,
        receipt={"schema": "test", "n": n, "nested": {"list": [1, "two", None]}},
        receipt_dsse=b'{"payload":"x"}',
        timeline_event_id=None if event is None else draft(event).event_id,
    )


def fact(symbol: str, node: str | None, *, hits: int = 1, container: str | None = None) -> FactRow:
    return FactRow(
        symbol_id=symbol,
        purl="pkg:pypi/demo@1",
        container=container,
        hits=hits,
        first_seen=NOW,
        last_seen=NOW + timedelta(seconds=hits),
        node=node,
    )


def events(repo: Repository, tenant: TenantId) -> list[str]:
    return [e.event_id for e in repo.iter_events(tenant)]


class TokenStoreContract:
    def test_a_token_is_found_by_its_hash_only(self, repo: Repository) -> None:
        plus_two = timezone(timedelta(hours=2))
        token_id = repo.add_token(
            token_hash="1" * 64,
            tenants=frozenset({"acme"}),
            scopes=frozenset({"signals:read"}),
            at=NOW,
            expires_at=datetime(2026, 1, 2, 2, tzinfo=plus_two),
        )
        found = repo.find_token("1" * 64)
        assert found is not None and found.token_id == token_id
        assert found.tenants == {"acme"} and found.scopes == {"signals:read"}
        assert found.created_at == NOW and found.expires_at == datetime(2026, 1, 2, tzinfo=UTC)
        assert found.expires_at.utcoffset() == timedelta(0)
        assert repo.find_token("2" * 64) is None

    def test_a_tenant_sees_only_the_tokens_that_allow_it_alone(self, repo: Repository) -> None:
        mine = repo.add_token(
            token_hash="1" * 64, tenants=frozenset({"acme"}), scopes=frozenset(), at=NOW
        )
        both = repo.add_token(
            token_hash="2" * 64, tenants=frozenset({"acme", "globex"}), scopes=frozenset(), at=NOW
        )
        assert [t.token_id for t in repo.list_tokens(tenant=ACME)] == [mine]
        assert [t.token_id for t in repo.list_tokens(tenant=GLOBEX)] == []
        assert sorted(t.token_id for t in repo.list_tokens(tenant=None)) == sorted([mine, both])
        assert repo.get_token(both, tenant=ACME) is None
        assert repo.revoke_token(both, tenant=ACME, at=NOW) is None
        assert repo.get_token(both, tenant=None) is not None

    def test_tokens_page_by_id(self, repo: Repository) -> None:
        ids = [
            repo.add_token(
                token_hash=f"{n:064x}",
                tenants=frozenset({"acme"}),
                scopes=frozenset(),
                at=NOW + timedelta(seconds=n),
            )
            for n in range(5)
        ]
        first = repo.list_tokens(tenant=ACME, limit=2)
        rest = repo.list_tokens(tenant=ACME, after=first[-1].token_id)
        assert [t.token_id for t in first + rest] == sorted(ids)

    def test_a_revocation_keeps_its_first_time(self, repo: Repository) -> None:
        token_id = repo.add_token(
            token_hash="1" * 64, tenants=frozenset({"acme"}), scopes=frozenset(), at=NOW
        )
        first = repo.revoke_token(token_id, tenant=ACME, at=NOW + timedelta(hours=1))
        again = repo.revoke_token(token_id, tenant=ACME, at=NOW + timedelta(hours=2))
        assert first is not None and again is not None
        assert first.revoked_at == again.revoked_at == NOW + timedelta(hours=1)
        found = repo.find_token("1" * 64)
        assert found is not None and found.revoked


class GraphStoreContract:
    def test_a_graph_is_recorded_and_announced_once_per_tenant(self, repo: Repository) -> None:
        record = GraphRecord(
            ACME, GRAPH, "cas://g", 10, 3, 2, NOW, dsse_digest="sha256:" + "d" * 64
        )
        assert repo.add_graph(record, draft(1))
        assert not repo.add_graph(record, draft(2))
        assert events(repo, ACME) == [draft(1).event_id]
        assert repo.get_graph(ACME, GRAPH) == record
        assert repo.get_graph(GLOBEX, GRAPH) is None
        assert repo.add_graph(replace(record, tenant=GLOBEX), draft(3))
        assert repo.tenants_with_graph(GRAPH) == [ACME, GLOBEX]
        assert repo.tenants_with_graph(OTHER_GRAPH) == []

    def test_a_symbol_manifest_is_announced_once_whoever_races(self, repo: Repository) -> None:
        def record(tenant: TenantId) -> SymbolManifestRecord:
            return SymbolManifestRecord(tenant, "c" * 64, "cas://reachability/symbols/c", 2, NOW)

        with ThreadPoolExecutor(4) as pool:
            created = list(
                pool.map(lambda n: repo.add_symbol_manifest(record(ACME), draft(200 + n)), range(8))
            )
        assert created.count(True) == 1
        assert repo.add_symbol_manifest(record(GLOBEX), draft(300))  # tenants are apart
        for tenant in (ACME, GLOBEX):
            chain = list(repo.iter_events(tenant))
            assert [e.event_type for e in chain] == ["reach.graph.ingested"]
            assert check_chain(chain, tenant=tenant).ok


class IngestStoreContract:
    def test_an_ingest_is_kept_with_its_facts_and_event(self, repo: Repository) -> None:
        record = ingest(1, event=1)
        rows = [fact("s1", "n1", container="c1"), fact("s2", None, hits=3)]
        event = repo.commit_ingest(record, rows, draft(1, "reach.runtime.ingested"))
        assert event.seq == 1 and event.event_id == draft(1).event_id
        assert repo.get_ingest(ACME, record.ingest_id) == record
        assert repo.list_facts(ACME, record.ingest_id) == rows
        assert repo.get_ingest(GLOBEX, record.ingest_id) is None
        assert repo.list_facts(GLOBEX, record.ingest_id) == []

    def test_facts_are_written_as_they_are_read_in_their_order(self, repo: Repository) -> None:
        """12,001 facts handed over as an iterable that makes them as it is read (as
        `ingest.FactRows` does): past two of the SQL stores' insert batches, in order."""
        rows = [fact(f"s{n:05d}", f"n{n}" if n % 3 else None, hits=n + 1) for n in range(12_001)]

        class Made(Sequence[FactRow]):
            def __len__(self) -> int:
                return len(rows)

            def __iter__(self) -> Iterator[FactRow]:
                return (FactRow(*row) for row in rows)

            def __getitem__(self, index: Any) -> Any:  # the stores only iterate
                raise AssertionError("indexed")

        record = ingest(1, event=1)
        repo.commit_ingest(record, Made(), draft(1, "reach.runtime.ingested"))
        assert repo.list_facts(ACME, record.ingest_id) == rows

    def test_the_same_bytes_for_the_same_graph_are_accepted_once(self, repo: Repository) -> None:
        repo.commit_ingest(ingest(1), [], draft(1))
        with pytest.raises(Conflict):
            repo.commit_ingest(ingest(2, content=1), [fact("s", "n")], draft(2))
        assert repo.get_ingest(ACME, ingest(2).ingest_id) is None  # nothing half-written
        assert events(repo, ACME) == [draft(1).event_id]
        duplicate = repo.find_duplicate(ACME, f"{1:064x}", GRAPH)
        assert duplicate is not None and duplicate.ingest_id == ingest(1).ingest_id
        # Another graph, another tenant, or a failure of the same bytes are not duplicates.
        repo.commit_ingest(ingest(3, content=1, graph=OTHER_GRAPH), [], draft(3))
        repo.commit_ingest(ingest(4, content=1, tenant=GLOBEX), [], draft(4))
        repo.record_failure(ingest(5, content=1, status="failed"), draft(5))
        assert repo.find_duplicate(GLOBEX, f"{1:064x}", OTHER_GRAPH) is None

    def test_a_failed_ingest_is_recorded_with_its_event(self, repo: Repository) -> None:
        record = IngestRecord(
            ingest_id="01M8EF0000000000000000000A",
            tenant=ACME,
            status="failed",
            received_at=NOW,
            reason="schema_invalid",
            detail="bad",
        )
        event = repo.record_failure(record, draft(9, "runtime.ingest.failed"))
        assert event.seq == 1
        assert repo.get_ingest(ACME, record.ingest_id) == record
        assert repo.get_ingest(GLOBEX, record.ingest_id) is None

    def test_ingests_list_by_id_within_filters(self, repo: Repository) -> None:
        repo.commit_ingest(ingest(1), [], draft(1))
        repo.commit_ingest(ingest(2, graph=OTHER_GRAPH), [], draft(2))
        repo.record_failure(ingest(3, status="failed"), draft(3))
        repo.commit_ingest(ingest(4, tenant=GLOBEX), [], draft(4))

        def ids(**query: object) -> list[int]:
            arguments: dict[str, object] = {"graph_hash": None, "status": None, "after": None}
            found = repo.list_ingests(ACME, limit=10, **(arguments | query))  # type: ignore[arg-type]
            return [int(r.ingest_id[6:]) for r in found]

        assert ids() == [1, 2, 3]
        assert ids(graph_hash=GRAPH) == [1, 3]
        assert ids(status="failed") == [3]
        assert ids(after=ingest(1).ingest_id) == [2, 3]
        assert len(repo.list_ingests(ACME, graph_hash=None, status=None, after=None, limit=2)) == 2

    def test_a_receipt_is_superseded_only_from_the_one_read(self, repo: Repository) -> None:
        record = ingest(1, event=1)
        repo.commit_ingest(record, [], draft(1))
        newer = replace(
            record, receipt={"schema": "test", "v": 2}, timeline_event_id=draft(2).event_id
        )
        stale = repo.supersede_receipt(newer, draft(3), previous_event_id=draft(99).event_id)
        assert stale is None
        assert repo.get_ingest(ACME, record.ingest_id) == record
        assert events(repo, ACME) == [draft(1).event_id]
        done = repo.supersede_receipt(newer, draft(2), previous_event_id=draft(1).event_id)
        assert done is not None and done.seq == 2
        assert repo.get_ingest(ACME, record.ingest_id) == newer
        other = replace(newer, tenant=GLOBEX)
        assert repo.supersede_receipt(other, draft(4), previous_event_id=draft(2).event_id) is None

    def test_what_ran_counts_accepted_mapped_facts_of_the_tenant(self, repo: Repository) -> None:
        repo.commit_ingest(
            ingest(1), [fact("a", "n1", hits=2, container="c1"), fact("x", None)], draft(1)
        )
        repo.commit_ingest(ingest(2), [fact("a", "n1", hits=5, container="c2")], draft(2))
        repo.commit_ingest(ingest(3, status="orphaned"), [fact("b", "n2")], draft(3))
        repo.commit_ingest(ingest(4, tenant=GLOBEX), [fact("c", "n3")], draft(4))
        seen = repo.observed_nodes(ACME, GRAPH)
        assert set(seen) == {"n1"}
        assert seen["n1"].hits == 7
        assert seen["n1"].first_seen == NOW and seen["n1"].last_seen == NOW + timedelta(seconds=5)
        details = repo.node_details(ACME, GRAPH, ["n1", "n3"])
        assert details == {
            "n1": (("c1", "c2"), (ingest(1).ingest_id, ingest(2).ingest_id)),
            "n3": ((), ()),
        }
        assert repo.node_details(ACME, GRAPH, []) == {}
        assert repo.observed_nodes(GLOBEX, OTHER_GRAPH) == {}

    def test_observed_edges_are_kept_per_ingest_and_summed_per_graph(
        self, repo: Repository
    ) -> None:
        known = EdgeRow("sym:a", "sym:b", 3, "n1", "n2", True)
        unknown = EdgeRow("sym:a", "sym:z", 1, "n1", None, False)
        between = EdgeRow("sym:b", "sym:a", 2, "n2", "n1", False)
        repo.commit_ingest(ingest(1), [fact("a", "n1")], draft(1), [unknown, known])
        repo.commit_ingest(ingest(2), [], draft(2), [known._replace(hits=4), between])
        repo.commit_ingest(ingest(3, status="orphaned"), [], draft(3), [known])
        repo.commit_ingest(ingest(4, graph=OTHER_GRAPH), [], draft(4), [known])
        repo.commit_ingest(ingest(5, tenant=GLOBEX), [], draft(5), [known])
        assert repo.list_edges(ACME, ingest(1).ingest_id) == [unknown, known]
        assert repo.list_edges(GLOBEX, ingest(1).ingest_id) == []
        one, two = ingest(1).ingest_id, ingest(2).ingest_id
        everything = [
            EdgeObservation("sym:a", "sym:b", "n1", "n2", True, 7, (one, two)),
            EdgeObservation("sym:a", "sym:z", "n1", None, False, 1, (one,)),
            EdgeObservation("sym:b", "sym:a", "n2", "n1", False, 2, (two,)),
        ]
        assert repo.observed_edges(ACME, GRAPH) == everything
        assert repo.observed_edges(ACME, GRAPH, in_graph=False) == everything[1:]
        assert repo.observed_edges(ACME, GRAPH, in_graph=True) == everything[:1]
        assert repo.observed_edges(ACME, GRAPH, limit=2) == everything[:2]
        assert repo.observed_edges(ACME, GRAPH, after=("sym:a", "sym:b"), limit=1) == [
            everything[1]
        ]
        assert repo.observed_edges(ACME, GRAPH, after=("sym:b", "sym:a")) == []
        assert repo.observed_edges(GLOBEX, OTHER_GRAPH) == []
        [other] = repo.observed_edges(GLOBEX, GRAPH)
        assert other.ingest_ids == (ingest(5).ingest_id,)


class OrphanQueueContract:
    def queue(self, repo: Repository, n: int, graph: str = GRAPH) -> IngestRecord:
        record = ingest(n, status="orphaned", graph=graph)
        repo.commit_ingest(record, [], draft(n, "reach.runtime.orphaned"))
        return record

    def test_an_orphan_whose_graph_arrived_meanwhile_is_due_at_once(self, repo: Repository) -> None:
        repo.add_graph(GraphRecord(ACME, GRAPH, "cas://x", 1, 1, 0, NOW), draft(100))
        self.queue(repo, 1, GRAPH)
        self.queue(repo, 2, OTHER_GRAPH)
        due = repo.claim_orphans(NOW, worker="w", lease_seconds=60, limit=10)
        assert [item.graph_hash for item in due] == [GRAPH]
        assert repo.orphan_queue_depth() == 2

    def test_an_orphan_is_first_due_after_the_first_delay(self, repo: Repository) -> None:
        self.queue(repo, 1)
        assert repo.claim_orphans(NOW, worker="w", lease_seconds=60, limit=10) == []
        [item] = repo.claim_orphans(
            NOW + ORPHAN_FIRST_DELAY, worker="w", lease_seconds=60, limit=10
        )
        assert item == OrphanItem(
            ingest(1).ingest_id, ACME, GRAPH, NOW, NOW + ORPHAN_FIRST_DELAY, 0
        )

    def test_a_lease_keeps_other_workers_off_until_it_ends(self, repo: Repository) -> None:
        self.queue(repo, 1)
        later = NOW + ORPHAN_FIRST_DELAY
        assert len(repo.claim_orphans(later, worker="a", lease_seconds=60, limit=10)) == 1
        assert repo.claim_orphans(later, worker="b", lease_seconds=60, limit=10) == []
        after = later + timedelta(seconds=61)
        [item] = repo.claim_orphans(after, worker="b", lease_seconds=60, limit=10)
        assert not repo.reschedule_orphan(item, worker="a", next_attempt_at=after)  # lost it
        assert repo.reschedule_orphan(item, worker="b", next_attempt_at=after + timedelta(hours=1))
        assert repo.claim_orphans(after, worker="c", lease_seconds=60, limit=10) == []
        [again] = repo.claim_orphans(
            after + timedelta(hours=1), worker="c", lease_seconds=60, limit=1
        )
        assert again.attempts == 1

    def test_a_graphs_orphans_are_claimed_whenever_due(self, repo: Repository) -> None:
        self.queue(repo, 1)
        self.queue(repo, 2, OTHER_GRAPH)
        claimed = repo.claim_orphans(
            NOW, worker="w", lease_seconds=60, limit=10, tenant=ACME, graph_hash=GRAPH
        )
        assert [i.ingest_id for i in claimed] == [ingest(1).ingest_id]
        assert (
            repo.claim_orphans(
                NOW, worker="w", lease_seconds=60, limit=10, tenant=GLOBEX, graph_hash=OTHER_GRAPH
            )
            == []
        )

    def test_a_finished_orphan_becomes_an_ingest_with_its_facts(self, repo: Repository) -> None:
        record = self.queue(repo, 1)
        [item] = repo.claim_orphans(
            NOW, worker="w", lease_seconds=60, limit=1, tenant=ACME, graph_hash=GRAPH
        )
        done = replace(record, status="ingested", timeline_event_id=draft(2).event_id)
        rows = [fact("a", "n1")]
        edges = [EdgeRow("sym:a", "sym:b", 2, "n1", None, False)]
        assert repo.finish_orphan(item, worker="x", ingest=done, facts=rows, event=draft(2)) is None
        assert repo.list_edges(ACME, record.ingest_id) == []
        event = repo.finish_orphan(
            item, worker="w", ingest=done, facts=rows, event=draft(2), edges=edges
        )
        assert event is not None and event.seq == 2
        assert repo.get_ingest(ACME, record.ingest_id) == done
        assert repo.list_facts(ACME, record.ingest_id) == rows
        assert repo.list_edges(ACME, record.ingest_id) == edges
        assert [e.count for e in repo.observed_edges(ACME, GRAPH)] == [2]
        assert repo.orphan_queue_depth() == 0

    def test_an_orphan_whose_receipt_changed_is_released_at_once(self, repo: Repository) -> None:
        record = self.queue(repo, 1)
        [item] = repo.claim_orphans(
            NOW, worker="w", lease_seconds=600, limit=1, tenant=ACME, graph_hash=GRAPH
        )
        done = replace(record, status="ingested")
        lost = repo.finish_orphan(
            item, worker="w", ingest=done, facts=[fact("a", "n1")], event=draft(2),
            previous_event_id=draft(77).event_id,
        )  # fmt: skip
        assert lost is None
        assert repo.get_ingest(ACME, record.ingest_id) == record
        assert repo.list_facts(ACME, record.ingest_id) == []
        assert events(repo, ACME) == [draft(1).event_id]
        [again] = repo.claim_orphans(
            NOW, worker="v", lease_seconds=600, limit=1, tenant=ACME, graph_hash=GRAPH
        )
        assert again.ingest_id == record.ingest_id

    def test_an_expired_orphan_leaves_the_queue(self, repo: Repository) -> None:
        record = self.queue(repo, 1)
        [item] = repo.claim_orphans(
            NOW, worker="w", lease_seconds=60, limit=1, tenant=ACME, graph_hash=GRAPH
        )
        expired = replace(record, status="expired", reason="orphan_expired")
        event = repo.expire_orphan(item, worker="w", ingest=expired, event=draft(2))
        assert event is not None
        assert repo.get_ingest(ACME, record.ingest_id) == expired
        assert repo.orphan_queue_depth() == 0
        assert repo.expire_orphan(item, worker="w", ingest=expired, event=draft(3)) is None


class TimelineStoreContract:
    def test_chains_are_per_tenant_and_sound(self, repo: Repository) -> None:
        for n in range(5):
            repo.append_event(ACME if n % 2 else GLOBEX, draft(n))
        acme = list(repo.iter_events(ACME))
        globex = list(repo.iter_events(GLOBEX))
        assert [e.seq for e in acme] == [1, 2] and [e.seq for e in globex] == [1, 2, 3]
        assert check_chain(acme, tenant="acme").ok and check_chain(globex, tenant="globex").ok
        assert repo.get_event(GLOBEX, acme[0].event_id) is None
        assert repo.get_event(ACME, acme[0].event_id) == acme[0]

    def test_concurrent_appends_never_fork_the_chain(self, repo: Repository) -> None:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: repo.append_event(ACME, draft(n)), range(12)))
        chain = list(repo.iter_events(ACME))
        assert [e.seq for e in chain] == list(range(1, 13))
        assert check_chain(chain, tenant="acme").ok

    def test_events_list_within_filters(self, repo: Repository) -> None:
        for n in range(1, 6):
            repo.append_event(
                ACME, draft(n, "reach.graph.ingested" if n % 2 else "airgap.staleness.threshold")
            )

        def seqs(**query: object) -> list[int]:
            arguments: dict[str, object] = {"event_type": None, "since": None, "after_seq": None}
            found = repo.list_events(ACME, limit=10, **(arguments | query))  # type: ignore[arg-type]
            return [e.seq for e in found]

        assert seqs() == [1, 2, 3, 4, 5]
        assert seqs(event_type="airgap.staleness.threshold") == [2, 4]
        assert seqs(since=NOW + timedelta(seconds=3)) == [3, 4, 5]
        assert seqs(after_seq=3) == [4, 5]
        assert [
            e.seq
            for e in repo.list_events(ACME, event_type=None, since=None, after_seq=None, limit=2)
        ] == [1, 2]
        assert repo.list_events(GLOBEX, event_type=None, since=None, after_seq=None, limit=10) == []

    def test_an_event_once_is_appended_once(self, repo: Repository) -> None:
        kind = "airgap.staleness.threshold"
        assert repo.append_event_once(ACME, draft(1, kind, key="k"), same={"key": "k"}) is not None
        assert repo.append_event_once(ACME, draft(2, kind, key="k"), same={"key": "k"}) is None
        assert repo.append_event_once(ACME, draft(3, kind, key="j"), same={"key": "j"}) is not None
        assert (
            repo.append_event_once(GLOBEX, draft(4, kind, key="k"), same={"key": "k"}) is not None
        )
        assert events(repo, ACME) == [draft(1).event_id, draft(3).event_id]


class TrustStoreContract:
    def key(self, keyid: str, tenant: TenantId = ACME, at: datetime = NOW) -> TrustedKey:
        return TrustedKey(tenant, KeyPurpose.ATTEST, keyid, f"PEM {keyid}".encode(), at)

    def test_a_key_is_trusted_revoked_and_trusted_again(self, repo: Repository) -> None:
        assert repo.add_trusted_key(self.key("k1"))
        assert not repo.add_trusted_key(self.key("k1"))
        assert repo.add_trusted_key(self.key("k0"))
        assert [k.keyid for k in repo.list_trusted_keys(ACME, KeyPurpose.ATTEST)] == ["k0", "k1"]
        assert repo.list_trusted_keys(ACME, KeyPurpose.TIME) == []
        assert repo.list_trusted_keys(GLOBEX, KeyPurpose.ATTEST) == []
        assert not repo.revoke_trusted_key(GLOBEX, KeyPurpose.ATTEST, "k1", NOW)
        assert repo.revoke_trusted_key(ACME, KeyPurpose.ATTEST, "k1", NOW + timedelta(hours=1))
        assert not repo.revoke_trusted_key(ACME, KeyPurpose.ATTEST, "k1", NOW + timedelta(hours=2))
        assert [k.keyid for k in repo.list_trusted_keys(ACME, KeyPurpose.ATTEST)] == ["k0"]
        [_, revoked] = repo.list_trusted_keys(ACME, KeyPurpose.ATTEST, include_revoked=True)
        assert revoked.revoked_at == NOW + timedelta(hours=1)
        back = self.key("k1", at=NOW + timedelta(days=1))
        assert repo.add_trusted_key(back)
        assert repo.list_trusted_keys(ACME, KeyPurpose.ATTEST)[1] == back

    def test_a_policy_is_per_tenant(self, repo: Repository) -> None:
        assert repo.get_policy(ACME) == TenantPolicy()
        repo.set_policy(ACME, TenantPolicy(require_dsse=True, dsse_threshold=2), NOW)
        assert repo.get_policy(ACME) == TenantPolicy(require_dsse=True, dsse_threshold=2)
        assert repo.get_policy(GLOBEX) == TenantPolicy()

    def test_concurrent_policy_updates_are_never_lost(self, repo: Repository) -> None:
        def more_keys(policy: TenantPolicy) -> TenantPolicy:
            return replace(policy, dsse_threshold=policy.dsse_threshold + 1)

        def require(policy: TenantPolicy) -> TenantPolicy:
            return replace(policy, require_dsse=True)

        changes = [more_keys, require] * 6
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda change: repo.update_policy(ACME, change, NOW), changes))
        assert repo.get_policy(ACME) == TenantPolicy(require_dsse=True, dsse_threshold=7)
        assert repo.get_policy(GLOBEX) == TenantPolicy()

    def test_a_time_anchor_replay_is_refused(self, repo: Repository) -> None:
        assert repo.latest_time_anchor(ACME) is None
        assert repo.add_time_anchor(ACME, counter=5, anchor_time=NOW, envelope=b"five", at=NOW)
        assert not repo.add_time_anchor(ACME, counter=5, anchor_time=NOW, envelope=b"x", at=NOW)
        assert not repo.add_time_anchor(ACME, counter=4, anchor_time=NOW, envelope=b"x", at=NOW)
        assert repo.add_time_anchor(ACME, counter=6, anchor_time=NOW, envelope=b"six", at=NOW)
        assert repo.latest_time_anchor(ACME) == (6, b"six")
        assert repo.add_time_anchor(GLOBEX, counter=1, anchor_time=NOW, envelope=b"one", at=NOW)
        assert repo.latest_time_anchor(GLOBEX) == (1, b"one")


class ServiceKeyStoreContract:
    def test_servers_racing_for_the_service_key_share_one(self, repo: Repository) -> None:
        generated: list[str] = []

        def generate() -> tuple[str, bytes, bytes]:
            keyid, public, private = new_service_key_pem()
            generated.append(keyid)
            return keyid, public, private

        with ThreadPoolExecutor(4) as pool:
            pems = set(pool.map(lambda _: repo.current_service_key(generate, NOW), range(8)))
        assert len(pems) == 1 and len(generated) == 1
        [record] = repo.list_service_keys()
        assert record.keyid == generated[0] and record.retired_at is None

    def test_a_new_key_file_retires_the_previous_key(self, repo: Repository) -> None:
        first, second = new_service_key_pem(), new_service_key_pem()
        repo.register_service_key(first[0], first[1], NOW)
        repo.register_service_key(first[0], first[1], NOW)  # a restart changes nothing
        repo.register_service_key(second[0], second[1], NOW + timedelta(days=1))
        keys = {k.keyid: k for k in repo.list_service_keys()}
        assert keys[first[0]].retired_at == NOW + timedelta(days=1)
        assert keys[second[0]].retired_at is None and keys[second[0]].public_pem == second[1]
        repo.register_service_key(first[0], first[1], NOW + timedelta(days=2))  # brought back
        keys = {k.keyid: k for k in repo.list_service_keys()}
        assert keys[first[0]].retired_at is None
        assert keys[second[0]].retired_at == NOW + timedelta(days=2)


class SyncStoreContract:
    def test_an_offline_event_is_imported_once(self, repo: Repository) -> None:
        origin = "01M8EH00000000000000000001"
        first = repo.import_event(ACME, origin, draft(1), NOW)
        assert first is not None and first.seq == 1
        assert repo.import_event(ACME, origin, draft(2), NOW) is None
        assert repo.imported_event_id(ACME, origin) == first.event_id
        assert repo.imported_event_id(GLOBEX, origin) is None
        assert repo.import_event(GLOBEX, origin, draft(3), NOW) is not None
        assert events(repo, ACME) == [draft(1).event_id]

    def test_offline_evidence_is_kept_once(self, repo: Repository) -> None:
        receipt = {"schema": "test", "ingest_id": "x", "list": [1, {"a": None}]}

        def keep(tenant: TenantId, sha: str) -> bool:
            return repo.import_evidence(
                tenant, ingest_id="01M8EJ00000000000000000001", bundle_sha256=sha,
                receipt=receipt, receipt_dsse=b"{}", at=NOW,
            )  # fmt: skip

        assert keep(ACME, "1" * 64)
        assert not keep(ACME, "2" * 64)
        found = repo.get_imported_evidence(ACME, "01M8EJ00000000000000000001")
        assert found is not None
        assert (found.receipt, found.receipt_dsse, found.bundle_sha256) == (
            receipt,
            b"{}",
            "1" * 64,
        )
        assert found.imported_at == NOW
        assert repo.get_imported_evidence(GLOBEX, "01M8EJ00000000000000000001") is None
        assert keep(GLOBEX, "3" * 64)


CATALOG = "sha256:" + "c" * 64
EVAL_BASE = "01M8EH"


def evaluation(n: int, *, tenant: TenantId = ACME, graph: str = GRAPH) -> EvaluationRecord:
    return EvaluationRecord(
        evaluation_id=f"{EVAL_BASE}{n:020d}",
        tenant=tenant,
        graph_hash=graph,
        catalog_digest=CATALOG,
        since=None,
        window_start=NOW,
        window_end=NOW + timedelta(hours=n),
        computed_at=NOW + timedelta(hours=n),
        verdicts=2,
        unknowns=1,
        evidence_digests=("sha256:" + "d" * 64,),
        manifest_digests=(),
        ingest_ids=(ingest(1).ingest_id,),
    )


def verdict(vuln: str, symbol: str, state: str) -> VerdictRow:
    body = {"vuln_id": vuln, "symbol": symbol, "state": state, "runtime": {"hits": 1}}
    return VerdictRow(vuln_id=vuln, package="pkg:pypi/demo@1.0", symbol=symbol, state=state,
                      body=body)  # fmt: skip


def changed_event(change: VerdictChange) -> EventDraft:
    return EventDraft(
        event_id=f"01M8EJ{change.evaluation_id[-14:]}{change.position:06d}",
        event_type="reach.verdict.changed",
        occurred_at=change.at,
        source="test",
        correlation_id=change.evaluation_id,
        attributes={
            "vuln_id": change.vuln_id,
            "symbol": change.symbol,
            "from": change.from_state,
            "to": change.to_state,
            "graph_hash": change.graph_hash,
        },
    )


def record(repo: Repository, n: int, rows: list[VerdictRow], *, seen: int = 0,
           tenant: TenantId = ACME) -> tuple[list[VerdictChange], list[TimelineEvent]]:  # fmt: skip
    unknowns = [{"kind": "target_not_scanned", "symbol": f"mod:gone{n}"}]
    return repo.record_evaluation(
        evaluation(n, tenant=tenant), rows, unknowns, seen_seq=seen, event=changed_event
    )


class VerdictStoreContract:
    def test_a_catalog_is_kept_once_per_tenant(self, repo: Repository) -> None:
        catalog = CatalogRecord(ACME, CATALOG, "cas://reachability/catalogs/" + "c" * 64, 2, NOW)
        assert repo.add_catalog(catalog) is True
        assert repo.add_catalog(catalog) is False
        assert repo.get_catalog(ACME, CATALOG) == catalog
        assert repo.get_catalog(GLOBEX, CATALOG) is None

    def test_a_first_state_is_history_without_an_event(self, repo: Repository) -> None:
        repo.register_pair(ACME, GRAPH, CATALOG, since=None, at=NOW)
        changes, appended = record(
            repo, 1, [verdict("V1", "m:a", "SR"), verdict("V2", "m:b", "SU")]
        )
        assert [(c.vuln_id, c.from_state, c.to_state) for c in changes] == [
            ("V1", None, "SR"),
            ("V2", None, "SU"),
        ]
        assert appended == [] and events(repo, ACME) == []
        current = repo.list_verdicts(ACME, graph_hash=GRAPH, limit=10)
        assert [(v.vuln_id, v.state) for v in current] == [("V1", "SR"), ("V2", "SU")]
        assert current[0].body["runtime"] == {"hits": 1}
        found = repo.get_evaluation(ACME, evaluation(1).evaluation_id)
        assert found is not None and found.evidence_digests == evaluation(1).evidence_digests
        assert found.ingest_ids == evaluation(1).ingest_ids and found.changed == 0

    def test_a_changed_state_writes_history_and_its_event_together(self, repo: Repository) -> None:
        record(repo, 1, [verdict("V1", "m:a", "SR"), verdict("V2", "m:b", "SU")])
        first = repo.list_verdicts(ACME, graph_hash=GRAPH, limit=10)
        changes, appended = record(
            repo, 2, [verdict("V1", "m:a", "CR"), verdict("V2", "m:b", "SU")]
        )
        assert [(c.vuln_id, c.from_state, c.to_state) for c in changes] == [("V1", "SR", "CR")]
        assert [e.event_type for e in appended] == ["reach.verdict.changed"]
        assert appended[0].attributes["from"] == "SR" and appended[0].attributes["to"] == "CR"
        assert changes[0].event_id == appended[0].event_id
        assert events(repo, ACME) == [appended[0].event_id]
        now = repo.list_verdicts(ACME, graph_hash=GRAPH, limit=10)
        assert [v.verdict_id for v in now] == [v.verdict_id for v in first]  # stable ids
        assert now[0].state == "CR" and now[0].changed_at == evaluation(2).computed_at
        assert now[1].changed_at == first[1].changed_at  # V2 did not change
        assert now[1].evaluation_id == evaluation(2).evaluation_id
        history = repo.verdict_history(ACME, graph_hash=GRAPH, vuln_id="V1", limit=10)
        assert [(h.from_state, h.to_state) for h in history] == [(None, "SR"), ("SR", "CR")]
        assert repo.list_verdicts(ACME, graph_hash=GRAPH, state="SU", limit=10)[0].vuln_id == "V2"
        found = repo.get_evaluation(ACME, evaluation(2).evaluation_id)
        assert found is not None and found.changed == 1

    def test_lists_page_in_order(self, repo: Repository) -> None:
        rows = [verdict(f"V{i}", f"m:s{i}", "SU") for i in range(5)]
        record(repo, 1, rows)
        record(repo, 2, [verdict(f"V{i}", f"m:s{i}", "CU") for i in range(5)])
        page = repo.list_verdicts(ACME, graph_hash=GRAPH, limit=2)
        rest = repo.list_verdicts(ACME, graph_hash=GRAPH, after=page[-1].verdict_id, limit=10)
        assert [v.vuln_id for v in page + rest] == [f"V{i}" for i in range(5)]
        history = repo.verdict_history(ACME, graph_hash=GRAPH, limit=6)
        after = (history[-1].evaluation_id, history[-1].position)
        more = repo.verdict_history(ACME, graph_hash=GRAPH, after=after, limit=10)
        assert len(history) == 6 and len(more) == 4
        assert [h.to_state for h in history + more] == ["SU"] * 5 + ["CU"] * 5

    def test_unknowns_are_those_of_the_latest_evaluation(self, repo: Repository) -> None:
        record(repo, 1, [verdict("V1", "m:a", "U")])
        record(repo, 2, [verdict("V1", "m:a", "U")])
        found = repo.list_unknowns(ACME, graph_hash=GRAPH, limit=10)
        assert [u.body["symbol"] for u in found] == ["mod:gone2"]
        assert found[0].kind == "target_not_scanned" and found[0].catalog_digest == CATALOG
        assert repo.list_unknowns(ACME, graph_hash=OTHER_GRAPH, limit=10) == []

    def test_an_ingest_of_the_graph_makes_its_pairs_due(self, repo: Repository) -> None:
        registered = repo.register_pair(ACME, GRAPH, CATALOG, since=None, at=NOW)
        assert not registered.due
        repo.register_pair(GLOBEX, GRAPH, CATALOG, since=None, at=NOW)
        repo.commit_ingest(ingest(1), [fact("s", "n")], draft(1, "reach.runtime.ingested"))
        repo.commit_ingest(ingest(2, graph=OTHER_GRAPH), [], draft(2, "reach.runtime.ingested"))
        claimed = repo.claim_reevaluations(NOW, worker="w1", lease_seconds=60, limit=10)
        assert [(r.tenant, r.graph_hash, r.change_seq) for r in claimed] == [(ACME, GRAPH, 1)]
        # Leased: another worker gets nothing until the lease ends.
        assert repo.claim_reevaluations(NOW, worker="w2", lease_seconds=60, limit=10) == []
        later = NOW + timedelta(seconds=61)
        assert len(repo.claim_reevaluations(later, worker="w2", lease_seconds=60, limit=10)) == 1
        # Recorded with what it saw: no longer due; an ingest meanwhile keeps it due.
        repo.commit_ingest(ingest(3), [], draft(3, "reach.runtime.ingested"))
        record(repo, 1, [verdict("V1", "m:a", "SR")], seen=claimed[0].change_seq)
        again = repo.claim_reevaluations(later, worker="w1", lease_seconds=60, limit=10)
        assert [(r.change_seq, r.evaluated_seq) for r in again] == [(2, 1)]
        record(repo, 2, [verdict("V1", "m:a", "SR")], seen=again[0].change_seq)
        assert repo.claim_reevaluations(later, worker="w1", lease_seconds=60, limit=10) == []

    def test_an_evaluation_that_saw_less_never_overwrites_a_newer_one(
        self, repo: Repository
    ) -> None:
        repo.register_pair(ACME, GRAPH, CATALOG, since=None, at=NOW)
        repo.commit_ingest(ingest(1), [], draft(1, "reach.runtime.ingested"))
        repo.commit_ingest(ingest(2), [], draft(2, "reach.runtime.ingested"))
        record(repo, 1, [verdict("V1", "m:a", "SR")], seen=1)
        record(repo, 2, [verdict("V1", "m:a", "CR")], seen=2)  # saw both ingests
        before = events(repo, ACME)
        assert record(repo, 3, [verdict("V1", "m:a", "SR")], seen=1) == ([], [])  # stale
        [current] = repo.list_verdicts(ACME, graph_hash=GRAPH, limit=5)
        assert current.state == "CR" and current.evaluation_id == evaluation(2).evaluation_id
        assert events(repo, ACME) == before
        assert repo.get_evaluation(ACME, evaluation(3).evaluation_id) is not None  # kept
        assert [u.evaluation_id for u in repo.list_unknowns(ACME, graph_hash=GRAPH, limit=5)] == [
            evaluation(2).evaluation_id
        ]

    def test_a_finished_orphan_makes_its_graphs_pairs_due(self, repo: Repository) -> None:
        repo.register_pair(ACME, GRAPH, CATALOG, since=None, at=NOW)
        repo.commit_ingest(ingest(1, status="orphaned"), [], draft(1, "reach.runtime.orphaned"))
        assert repo.claim_reevaluations(NOW, worker="w", lease_seconds=60, limit=10) == []
        [item] = repo.claim_orphans(NOW, worker="w", lease_seconds=60, limit=1, graph_hash=GRAPH,
                                    tenant=ACME)  # fmt: skip
        done = replace(ingest(1), status="ingested")
        repo.finish_orphan(item, worker="w", ingest=done, facts=[], event=draft(2))
        assert len(repo.claim_reevaluations(NOW, worker="w", lease_seconds=60, limit=10)) == 1

    def test_tenants_never_see_each_others_verdicts(self, repo: Repository) -> None:
        record(repo, 1, [verdict("V1", "m:a", "SR")])
        vex = VexRecord(
            vex_id="01M8EK" + "0" * 20,
            tenant=ACME,
            format="openvex",
            sha256="e" * 64,
            cas_uri="cas://vex/documents/" + "e" * 64,
            dsse_uri="cas://vex/attestations/" + "f" * 64,
            graph_hash=GRAPH,
            catalog_digest=CATALOG,
            evaluation_id=evaluation(1).evaluation_id,
            created_at=NOW,
            product="pkg:pypi/app@1",
        )
        repo.add_vex(vex)
        assert repo.get_vex(ACME, vex.vex_id) == vex
        assert repo.get_vex(GLOBEX, vex.vex_id) is None
        assert repo.get_evaluation(GLOBEX, evaluation(1).evaluation_id) is None
        assert repo.list_verdicts(GLOBEX, graph_hash=None, limit=10) == []
        assert repo.verdict_history(GLOBEX, graph_hash=None, limit=10) == []
        assert repo.list_unknowns(GLOBEX, graph_hash=None, limit=10) == []
        # The same target under another tenant is another verdict.
        record(repo, 2, [verdict("V1", "m:a", "SU")], tenant=GLOBEX)
        assert repo.list_verdicts(ACME, graph_hash=GRAPH, limit=10)[0].state == "SR"
        assert repo.list_verdicts(GLOBEX, graph_hash=GRAPH, limit=10)[0].state == "SU"

    def test_vex_documents_are_listed_newest_first_per_tenant(self, repo: Repository) -> None:
        record(repo, 1, [verdict("V1", "m:a", "SR")])
        other_graph = "sha256:" + "b" * 64

        def vex(n: int, tenant: TenantId = ACME, graph: str = GRAPH) -> VexRecord:
            return VexRecord(
                vex_id=f"01M8EK{n:020d}",
                tenant=tenant,
                format="openvex" if n % 2 else "cyclonedx",
                sha256=f"{n:064x}",
                cas_uri=f"cas://vex/documents/{n:064x}",
                dsse_uri=f"cas://vex/attestations/{n:064x}",
                graph_hash=graph,
                catalog_digest=CATALOG,
                evaluation_id=evaluation(1).evaluation_id,
                created_at=NOW,
            )

        mine = [vex(1), vex(2, graph=other_graph), vex(3)]
        for record_ in [*mine, vex(4, tenant=GLOBEX)]:
            repo.add_vex(record_)
        newest_first = mine[::-1]
        assert repo.list_vex(ACME, limit=10) == newest_first
        assert repo.list_vex(ACME, limit=2) == newest_first[:2]
        assert repo.list_vex(ACME, after=mine[2].vex_id, limit=10) == newest_first[1:]
        assert repo.list_vex(ACME, after=mine[0].vex_id, limit=10) == []
        assert repo.list_vex(ACME, graph_hash=GRAPH, limit=10) == [mine[2], mine[0]]
        assert repo.list_vex(ACME, graph_hash=other_graph, limit=10) == [mine[1]]
        # Another tenant's document is never listed, whatever the position or filter.
        assert [v.vex_id for v in repo.list_vex(GLOBEX, limit=10)] == [vex(4).vex_id]
        assert all(v.tenant == ACME for v in repo.list_vex(ACME, after="7" * 26, limit=10))
