"""The invariants every crash, outage or load run is checked against, read straight from a
deployment's database and CAS (not through the API under test)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stella_signals.cas import CasUri, Namespace
from stella_signals.ports import IngestRecord
from stella_signals.storage import SqlRepository
from stella_signals.tenancy import TenantId
from stella_signals.timeline import check_chain
from stella_signals.wiring import Settings, open_blob_store

ACCEPTED = ("ingested", "orphaned")


@dataclass
class StateReport:
    ingests: int = 0
    accepted: int = 0
    events: int = 0
    chain_ok: bool = True
    #: Runtime blobs no ingest names (a crash between publication and commit leaves one; a
    #: retry of the same bytes adopts it). Inert: no receipt, event or fact refers to it.
    unreferenced_blobs: int = 0
    violations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingests": self.ingests,
            "accepted": self.accepted,
            "events": self.events,
            "chain_ok": self.chain_ok,
            "unreferenced_blobs": self.unreferenced_blobs,
            "violations": self.violations,
        }


def _all_ingests(repo: SqlRepository, tenant: TenantId) -> Iterator[IngestRecord]:
    after: str | None = None
    while True:
        page = repo.list_ingests(tenant, graph_hash=None, status=None, after=after, limit=500)
        yield from page
        if len(page) < 500:
            return
        after = page[-1].ingest_id


def check_state(settings: Settings, tenant: TenantId) -> StateReport:
    """Every accepted ingest is whole (receipt, signed receipt, event, blob, facts); every
    ingest event names an accepted ingest; the chain verifies."""
    report = StateReport()
    repo = SqlRepository(settings.effective_database_url)
    store = open_blob_store(settings)
    try:
        events = list(repo.iter_events(tenant))
        report.events = len(events)
        chain = check_chain(events, tenant=tenant)
        report.chain_ok = chain.ok
        if not chain.ok:
            report.violations.append(f"chain broken: {chain}")
        event_ids = {e.event_id for e in events}
        ingests = {i.ingest_id: i for i in _all_ingests(repo, tenant)}
        report.ingests = len(ingests)
        digests: set[str] = set()
        for ingest in ingests.values():
            if ingest.content_sha256:
                digests.add(ingest.content_sha256)
            if ingest.status not in ACCEPTED:
                continue
            report.accepted += 1
            where = f"ingest {ingest.ingest_id}"
            if ingest.receipt is None or ingest.receipt_dsse is None:
                report.violations.append(f"{where}: accepted without its signed receipt")
            if ingest.timeline_event_id not in event_ids:
                report.violations.append(f"{where}: its event is not in the chain")
            uri = CasUri.of(Namespace.RUNTIME, ingest.content_sha256 or "0" * 64)
            if not store.exists(tenant, uri):
                report.violations.append(f"{where}: its blob is missing")
            if ingest.status == "ingested" and not repo.list_facts(tenant, ingest.ingest_id):
                report.violations.append(f"{where}: ingested without facts")
        for event in events:
            # Events imported from an offline site (``origin``) name the site's ingests.
            if event.event_type == "reach.runtime.ingested" and "origin" not in event.attributes:
                named = ingests.get(str(event.attributes.get("ingest_id")))
                if named is None or named.status != "ingested":
                    report.violations.append(f"event {event.event_id} names no ingested trace")
        report.unreferenced_blobs = sum(
            1 for uri in store.iter_uris(tenant, Namespace.RUNTIME) if uri.digest.hex not in digests
        )
    finally:
        repo.close()
    return report
