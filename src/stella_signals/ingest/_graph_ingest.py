"""Graph ingest: validate, attest, store, index, record — then release the orphan traces
that were waiting for this graph (SPEC §12: retried at once when their graph arrives)."""

from __future__ import annotations

from stella_signals.attest import verify_graph_attestation
from stella_signals.cas import Namespace
from stella_signals.digests import Digest
from stella_signals.errors import HashMismatch
from stella_signals.graph import load_canonical
from stella_signals.ingest._context import GraphIngestResult, IngestContext
from stella_signals.ingest._orphans import retry_orphans, worker_name
from stella_signals.ingest._stages import envelope_of, trusted_keys
from stella_signals.ports import EventDraft, GraphRecord
from stella_signals.tenancy import TenantId
from stella_signals.timeline import EventType

__all__ = ["ingest_graph"]


def ingest_graph(
    ctx: IngestContext,
    tenant: TenantId,
    data: bytes,
    *,
    dsse: bytes | None = None,
    expect: Digest | None = None,
) -> GraphIngestResult:
    """Validate, store, index and record a graph (``reach.graph.ingested`` when new).

    With ``dsse``, the envelope must attest this graph (subject blake3 = its hash) with the
    tenant's trusted keys; it is stored at cas://reachability/attestations/<sha256>.
    With ``expect``, the graph must have that hash (`HashMismatch` otherwise).
    `InvalidGraph`, `SignatureInvalid` or `HashMismatch`: nothing is written.
    """
    dsse_digest = None
    canonical = load_canonical(data)
    # Staged first: writing the canonical bytes is what hashes them (a large graph is never
    # held whole); a refusal below discards them, so nothing is written.
    with ctx.graphs.stage(tenant, canonical) as staged:
        graph_hash = staged.uri.digest
        if expect is not None and graph_hash != expect:
            raise HashMismatch(f"the graph's hash is {graph_hash}, expected {expect}")
        if dsse is not None:
            verify_graph_attestation(
                envelope_of(dsse),
                trusted=trusted_keys(ctx.repo, tenant),
                threshold=ctx.repo.get_policy(tenant).dsse_threshold,
                graph_hash=graph_hash,
                tenant=tenant,
            )
            stored = ctx.blobs.put(tenant, Namespace.ATTESTATIONS, [dsse])
            dsse_digest = "sha256:" + stored.sha256
        imported = ctx.graphs.commit(tenant, canonical, staged)
    now = ctx.clock.now()
    record = GraphRecord(
        tenant=tenant,
        graph_hash=str(imported.graph_hash),
        cas_uri=str(imported.uri),
        size=imported.size,
        nodes=imported.index.nodes_total,
        edges=imported.index.edges_total,
        created_at=now,
        dsse_digest=dsse_digest,
    )
    draft = EventDraft(
        event_id=ctx.new_event_id(),
        event_type=EventType.GRAPH_INGESTED.value,
        occurred_at=now,
        source=ctx.source,
        correlation_id=str(imported.graph_hash),
        attributes={
            "graph_hash": str(imported.graph_hash),
            "cas_uri": str(imported.uri),
            "nodes": record.nodes,
            "edges": record.edges,
            "dsse_digest": dsse_digest,
        },
    )
    created = ctx.repo.add_graph(record, draft)
    if created:
        retry_orphans(ctx, worker=worker_name(), tenant=tenant, graph_hash=record.graph_hash)
    return GraphIngestResult(
        graph_hash=imported.graph_hash,
        cas_uri=imported.uri,
        created=created,
        nodes=record.nodes,
        edges=record.edges,
    )
