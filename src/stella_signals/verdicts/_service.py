"""Reachability verdicts, the service side (SPEC §15): gather the engine's inputs from the
ports, call the pure engine (`stella_signals.reach.evaluate`), record the verdicts with their
history and ``reach.verdict.changed`` events, and render, sign and keep VEX documents.

The window: an evaluation reads the graph's accepted ingests received in [``since``, now]
(``since`` None: every ingest of the graph); the engine re-checks each ingest's time and
decides "did not run" from their probe manifests. Each ingest brings its stored facts (the
mapping made when it was ingested), the SHA-256 of its signed receipt envelope, its probe
manifest from the CAS, and the caller → callee edges its commit stored (they feed the
``unexpected_edge`` unknowns).

Re-evaluation: evaluating a catalog against a graph registers the (graph, catalog) pair; an
ingest committed for the graph (or an orphan of it finished once the graph arrived) marks the
pair due in the ingest's own transaction; `reevaluate_due` (run by ``signals worker`` and the
embedded server's background loop, beside the orphan retry) evaluates the due pairs again
under a lease. A crash anywhere leaves the pair due: evaluating twice is harmless (only a
state that differs from the stored one is a change).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stella_signals.canonical import canonical_json, canonical_json_fast
from stella_signals.cas import CasUri, Namespace, parse_cas_uri
from stella_signals.clock import format_utc
from stella_signals.digests import Digest, sha256_hex
from stella_signals.errors import InvalidDigest, InvalidField, NotFound, StellaError
from stella_signals.graph import GraphIndex
from stella_signals.ids import new_ulid
from stella_signals.ingest import IngestContext, evidence_record, parse_graph_hash
from stella_signals.locker import VexBundle, VexBundleIngest, export_vex_bundle
from stella_signals.ports import (
    CatalogRecord,
    EvaluationRecord,
    EventDraft,
    IngestRecord,
    Registration,
    VerdictChange,
    VerdictRow,
    VexRecord,
)
from stella_signals.reach import (
    Catalog,
    Evaluation,
    IngestEvidence,
    ObservedEdge,
    catalog_document,
    evaluate,
    parse_catalog,
)
from stella_signals.strictjson import loads_strict
from stella_signals.tenancy import TenantId
from stella_signals.timeline import EventType, TimelineEvent
from stella_signals.trace import ProbeManifest, parse_probe_manifest
from stella_signals.vex import VexFormat, render_vex, sign_vex
from stella_signals.wire import parse_rfc3339

#: Ingests read per page while gathering a window.
EVALUATION_PAGE = 500
#: How long a worker holds a due (graph, catalog) pair before another may take it over.
REEVALUATION_LEASE_SECONDS = 600.0
#: Who OpenVEX documents name as their author.
VEX_AUTHOR = "stella-signals"

_log = logging.getLogger(__name__)


# -- catalogs ---------------------------------------------------------------------------------


def store_catalog(ctx: IngestContext, tenant: TenantId, data: bytes) -> tuple[Catalog, bool]:
    """Parse a ``stella.vuln-catalog/v1`` document (`InvalidCatalog` with every problem, and
    nothing kept, when it is bad) and keep its canonical bytes in the tenant's CAS under its
    digest. (catalog, whether it is new to the tenant)."""
    catalog = parse_catalog(data)
    canonical = canonical_json(catalog_document(catalog))
    hex_digest = catalog.digest.removeprefix("sha256:")
    stored = ctx.blobs.put(tenant, Namespace.CATALOGS, [canonical], expected_hex=hex_digest)
    record = CatalogRecord(
        tenant=tenant,
        digest=catalog.digest,
        cas_uri=str(stored.uri),
        entries=len(catalog.entries),
        created_at=ctx.clock.now(),
    )
    return catalog, ctx.repo.add_catalog(record)


def load_catalog(ctx: IngestContext, tenant: TenantId, digest: str) -> tuple[Catalog, bytes]:
    """A catalog the tenant posted, from its CAS (digest verified), with its bytes."""
    if ctx.repo.get_catalog(tenant, digest) is None:
        raise NotFound(f"no catalog {digest}")
    uri = CasUri.of(Namespace.CATALOGS, digest.removeprefix("sha256:"))
    data = b"".join(ctx.blobs.open(tenant, uri))
    return parse_catalog(data), data


# -- evaluations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvaluationOutcome:
    """An evaluation as recorded: the engine's result, its id, the history entries it wrote
    (first states and changes) and the ``reach.verdict.changed`` events it appended."""

    evaluation_id: str
    evaluation: Evaluation
    record: EvaluationRecord
    changes: tuple[VerdictChange, ...] = ()
    events: tuple[TimelineEvent, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluation_id": self.evaluation_id,
            **self.evaluation.to_json(),
            "since": format_utc(self.record.since) if self.record.since else None,
            "ingest_ids": list(self.record.ingest_ids),
            "changes": [change_json(c) for c in self.changes if c.from_state is not None],
        }


def change_json(change: VerdictChange) -> dict[str, Any]:
    """A history entry as the API answers it."""
    return {
        "graph_hash": change.graph_hash,
        "catalog_digest": change.catalog_digest,
        "vuln_id": change.vuln_id,
        "package": change.package,
        "symbol": change.symbol,
        "from": change.from_state,
        "to": change.to_state,
        "at": format_utc(change.at),
        "evaluation_id": change.evaluation_id,
        "event_id": change.event_id,
    }


def vex_item(record: VexRecord) -> dict[str, Any]:
    """A VEX document's entry in a list as the API answers it (``url``: the document)."""
    return {
        "id": record.vex_id,
        "format": record.format,
        "sha256": record.sha256,
        "graph_hash": record.graph_hash,
        "catalog_digest": record.catalog_digest,
        "created_at": format_utc(record.created_at),
        "url": f"/api/v1/vex/{record.vex_id}",
    }


@dataclass(frozen=True, slots=True)
class _Window:
    index: GraphIndex
    ingests: tuple[IngestEvidence, ...]


def _graph_ingests(
    ctx: IngestContext, tenant: TenantId, graph_hash: str, since: datetime | None
) -> list[IngestRecord]:
    """The graph's accepted ingests received at or after ``since``, by id."""
    found: list[IngestRecord] = []
    after: str | None = None
    while True:
        page = ctx.repo.list_ingests(
            tenant, graph_hash=graph_hash, status="ingested", after=after, limit=EVALUATION_PAGE
        )
        found.extend(r for r in page if since is None or r.received_at >= since)
        if len(page) < EVALUATION_PAGE:
            return found
        after = page[-1].ingest_id


def receipt_digest(receipt_dsse: bytes) -> str:
    """``sha256:`` of a signed receipt: of its DSSE envelope's bytes as stored, the name
    receipts go by everywhere (a superseding receipt's ``supersedes``, ``evidence/receipts``)."""
    return "sha256:" + sha256_hex(receipt_dsse)


def _manifest(ctx: IngestContext, tenant: TenantId, receipt: Any) -> tuple[ProbeManifest | None,
                                                                           str | None]:  # fmt: skip
    digest = receipt.get("probe_manifest_digest") if receipt is not None else None
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        return None, None
    uri = CasUri.of(Namespace.PROBE_MANIFESTS, digest.removeprefix("sha256:"))
    data = b"".join(ctx.blobs.open(tenant, uri))
    return parse_probe_manifest(data, limits=ctx.limits), digest


def _edges(ctx: IngestContext, tenant: TenantId, record: IngestRecord) -> tuple[ObservedEdge, ...]:
    """The caller → callee edges the ingest observed (only traces of discovery mode carry
    them), as its commit stored them (migration 0012; older ingests have none stored)."""
    rows = ctx.repo.list_edges(tenant, record.ingest_id)
    return tuple(
        ObservedEdge(row.caller_symbol_id, row.symbol_id, row.hits)
        for row in sorted(rows, key=lambda row: (row.caller_symbol_id, row.symbol_id))
    )


def gather(
    ctx: IngestContext, tenant: TenantId, graph_hash: Digest, since: datetime | None
) -> _Window:
    """The engine's inputs for the graph and window, from the ports. `NotFound` when the
    tenant has no such graph."""
    if ctx.repo.get_graph(tenant, str(graph_hash)) is None:
        raise NotFound(f"no graph {graph_hash}")
    index = ctx.graphs.load(tenant, graph_hash, rehash=False).index
    records = _graph_ingests(ctx, tenant, str(graph_hash), since)
    ingests = []
    for record in records:
        if record.receipt_dsse is None:
            continue
        manifest, manifest_digest = _manifest(ctx, tenant, record.receipt)
        ingests.append(
            IngestEvidence(
                ingest_id=record.ingest_id,
                receipt_digest=receipt_digest(record.receipt_dsse),
                received_at=record.received_at,
                manifest=manifest,
                manifest_digest=manifest_digest,
                facts=ctx.repo.list_facts(tenant, record.ingest_id),
                edges=_edges(ctx, tenant, record),
            )
        )
    return _Window(index, tuple(ingests))


def _changed_event(ctx: IngestContext, change: VerdictChange) -> EventDraft:
    return EventDraft(
        event_id=new_ulid(ctx.clock),
        event_type=EventType.VERDICT_CHANGED.value,
        occurred_at=change.at,
        source=ctx.source,
        correlation_id=change.evaluation_id,
        attributes={
            "vuln_id": change.vuln_id,
            "symbol": change.symbol,
            "from": change.from_state,
            "to": change.to_state,
            "graph_hash": change.graph_hash,
            "package": change.package,
            "catalog_digest": change.catalog_digest,
            "evaluation_id": change.evaluation_id,
        },
    )


@dataclass(frozen=True, slots=True)
class _Rendered:
    format: VexFormat
    product: str
    document: bytes
    envelope: bytes


def evaluate_pair(
    ctx: IngestContext,
    tenant: TenantId,
    graph_hash: Digest,
    catalog: Catalog,
    *,
    since: datetime | None,
    vex: Sequence[VexFormat] = (),
    product: str | None = None,
) -> tuple[EvaluationOutcome, list[StoredVex]]:
    """Evaluate ``catalog`` (already stored: `store_catalog`) against the tenant's graph over
    [since, now], record it (verdicts, history, events, unknowns) and register the pair for
    re-evaluation; with ``vex``, render, sign and keep a document per format (rendered before
    anything is written: `EmptyVex` for an evaluation without a verdict leaves nothing)."""
    registration = ctx.repo.register_pair(
        tenant, str(graph_hash), catalog.digest, since=since, at=ctx.clock.now()
    )
    window = gather(ctx, tenant, graph_hash, since)
    computed_at = ctx.clock.now()
    evaluation = evaluate(
        catalog, window.index, window.ingests, since=since, until=computed_at,
        computed_at=computed_at,
    )  # fmt: skip
    rendered = [
        _render(ctx, evaluation, fmt, product or default_product(str(graph_hash)))
        for fmt in dict.fromkeys(vex)
    ]
    outcome = _record(ctx, tenant, evaluation, window, since, registration)
    stored = [_keep_vex(ctx, tenant, outcome, r) for r in rendered]
    return outcome, stored


def default_product(graph_hash: str) -> str:
    """What a VEX document is about when the caller names no product: the graph."""
    return f"urn:stella-signals:graph:{graph_hash}"


def _record(
    ctx: IngestContext,
    tenant: TenantId,
    evaluation: Evaluation,
    window: _Window,
    since: datetime | None,
    registration: Registration,
) -> EvaluationOutcome:
    evaluation_id = new_ulid(ctx.clock)
    document = canonical_json_fast(evaluation.to_json())
    kept = ctx.blobs.put(tenant, Namespace.EVALUATIONS, [document])
    record = EvaluationRecord(
        evaluation_id=evaluation_id,
        tenant=tenant,
        graph_hash=evaluation.graph_hash,
        catalog_digest=evaluation.catalog_digest,
        since=since,
        window_start=evaluation.window_start,
        window_end=evaluation.window_end,
        computed_at=evaluation.computed_at,
        verdicts=len(evaluation.verdicts),
        unknowns=len(evaluation.unknowns),
        evidence_digests=evaluation.evidence_digests,
        manifest_digests=evaluation.manifest_digests,
        ingest_ids=tuple(i.ingest_id for i in window.ingests),
        document_sha256=kept.sha256,
    )
    rows = [
        VerdictRow(v.vuln_id, v.package, v.symbol, v.state.value, v.to_json())
        for v in evaluation.verdicts
    ]
    changes, events = ctx.repo.record_evaluation(
        record,
        rows,
        [u.to_json() for u in evaluation.unknowns],
        seen_seq=registration.change_seq,
        event=lambda change: _changed_event(ctx, change),
    )
    return EvaluationOutcome(evaluation_id, evaluation, record, tuple(changes), tuple(events))


@dataclass(frozen=True, slots=True)
class ReevaluationStats:
    evaluated: int = 0
    changed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


def reevaluate_due(ctx: IngestContext, *, worker: str, limit: int = 20) -> ReevaluationStats:
    """One pass over the registered (graph, catalog) pairs whose graph had new ingests."""
    due = ctx.repo.claim_reevaluations(
        ctx.clock.now(), worker=worker, lease_seconds=REEVALUATION_LEASE_SECONDS, limit=limit
    )
    evaluated = changed = failed = 0
    failures: list[str] = []
    for pair in due:
        try:
            catalog, _ = load_catalog(ctx, pair.tenant, pair.catalog_digest)
            outcome, _ = evaluate_pair(
                ctx, pair.tenant, parse_graph_hash(pair.graph_hash), catalog, since=pair.since
            )
        except StellaError as exc:  # the lease lapses: the pair is tried again later
            failed += 1
            failures.append(f"{pair.tenant} {pair.graph_hash} {pair.catalog_digest}: {exc}")
            _log.warning("re-evaluation of %s failed: %s", pair, exc)
            continue
        evaluated += 1
        changed += len(outcome.events)
    return ReevaluationStats(evaluated, changed, failed, failures)


# -- VEX --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredVex:
    record: VexRecord

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.record.vex_id,
            "format": self.record.format,
            "sha256": self.record.sha256,
            "url": f"/api/v1/vex/{self.record.vex_id}",
            "dsse_url": f"/api/v1/vex/{self.record.vex_id}/dsse",
            "bundle_url": f"/api/v1/vex/{self.record.vex_id}/bundle",
            "cas_uri": self.record.cas_uri,
            "dsse_uri": self.record.dsse_uri,
            "product": self.record.product,
        }


def _render(ctx: IngestContext, evaluation: Evaluation, fmt: VexFormat, product: str) -> _Rendered:
    document = render_vex(
        evaluation, fmt, product=product, author=VEX_AUTHOR, timestamp=evaluation.computed_at
    )
    return _Rendered(fmt, product, document, sign_vex(document, fmt, ctx.service_key.signer))


def _keep_vex(
    ctx: IngestContext, tenant: TenantId, outcome: EvaluationOutcome, rendered: _Rendered
) -> StoredVex:
    document = ctx.blobs.put(tenant, Namespace.VEX, [rendered.document])
    envelope = ctx.blobs.put(tenant, Namespace.ATTESTATIONS, [rendered.envelope])
    record = VexRecord(
        vex_id=new_ulid(ctx.clock),
        tenant=tenant,
        format=rendered.format.value,
        sha256=document.sha256,
        cas_uri=str(document.uri),
        dsse_uri=str(envelope.uri),
        graph_hash=outcome.record.graph_hash,
        catalog_digest=outcome.record.catalog_digest,
        evaluation_id=outcome.evaluation_id,
        created_at=outcome.record.computed_at,
        product=rendered.product,
    )
    ctx.repo.add_vex(record)
    return StoredVex(record)


def _vex_record(ctx: IngestContext, tenant: TenantId, vex_id: str) -> VexRecord:
    record = ctx.repo.get_vex(tenant, vex_id)
    if record is None:
        raise NotFound(f"no VEX document {vex_id}")
    return record


def vex_document(ctx: IngestContext, tenant: TenantId, vex_id: str) -> tuple[VexRecord, bytes]:
    """A VEX document's record and bytes (digest verified); `NotFound` for another tenant's."""
    record = _vex_record(ctx, tenant, vex_id)
    return record, b"".join(ctx.blobs.open(tenant, parse_cas_uri(record.cas_uri)))


def vex_envelope(ctx: IngestContext, tenant: TenantId, vex_id: str) -> tuple[VexRecord, bytes]:
    """A VEX document's DSSE envelope."""
    record = _vex_record(ctx, tenant, vex_id)
    return record, b"".join(ctx.blobs.open(tenant, parse_cas_uri(record.dsse_uri)))


def vex_bundle(ctx: IngestContext, tenant: TenantId, vex_id: str) -> bytes:
    """The VEX document's Evidence Locker bundle (`stella_signals.locker.export_vex_bundle`):
    the document, its envelope, the catalog, the graph, the evaluation, and each ingest read
    with its signed receipt, trace and probe manifest."""
    record, document = vex_document(ctx, tenant, vex_id)
    _, envelope = vex_envelope(ctx, tenant, vex_id)
    evaluation = ctx.repo.get_evaluation(tenant, record.evaluation_id)
    if evaluation is None or evaluation.document_sha256 is None:
        raise NotFound(f"no evaluation {record.evaluation_id}")
    _, catalog = load_catalog(ctx, tenant, record.catalog_digest)
    graph_record = ctx.repo.get_graph(tenant, record.graph_hash)
    if graph_record is None:
        raise NotFound(f"no graph {record.graph_hash}")
    graph = b"".join(ctx.blobs.open(tenant, parse_cas_uri(graph_record.cas_uri)))
    computed = b"".join(
        ctx.blobs.open(tenant, CasUri.of(Namespace.EVALUATIONS, evaluation.document_sha256))
    )
    ingests = []
    for ingest_id in evaluation.ingest_ids:
        evidence = evidence_record(ctx, tenant, ingest_id)
        ingests.append(
            VexBundleIngest(
                ingest_id=ingest_id,
                receipt_dsse=evidence.receipt_dsse,
                trace=evidence.trace,
                probe_manifest=evidence.probe_manifest,
                runtime_dsse=evidence.runtime_dsse,
            )
        )

    def when(moment: datetime | None) -> str | None:
        return None if moment is None else format_utc(moment)

    return export_vex_bundle(
        VexBundle(
            vex_id=record.vex_id,
            tenant=tenant,
            format=record.format,
            graph_hash=record.graph_hash,
            catalog_digest=record.catalog_digest,
            evaluation_id=record.evaluation_id,
            evaluate={
                "since": when(evaluation.since),
                "until": when(evaluation.computed_at),
                "computed_at": when(evaluation.computed_at),
            },
            document=document,
            envelope=envelope,
            catalog=catalog,
            graph=graph,
            evaluation=computed,
            ingests=tuple(ingests),
        )
    )


# -- the evaluate request -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvaluateRequest:
    """``POST /api/v1/reachability/evaluate``'s body, parsed: every field checked, the
    catalog still as bytes (`store_catalog` parses it and names its problems)."""

    graph_hash: Digest
    catalog: bytes
    since: datetime | None = None
    vex: tuple[VexFormat, ...] = ()
    product: str | None = None


_REQUEST_FIELDS = frozenset({"graph_hash", "catalog", "since", "vex", "product"})


def parse_evaluate_request(data: bytes) -> EvaluateRequest:
    """The request body → `EvaluateRequest`; `InvalidField` naming the field and reason for
    anything else (unknown fields, duplicate keys, wrong types are refused, never guessed)."""

    def refuse(message: str, field_name: str, reason: str = "invalid_field") -> InvalidField:
        return InvalidField(message, field=field_name, reason=reason)

    try:
        body = loads_strict(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise refuse(f"the body is not JSON: {exc}", "", "invalid_json") from None
    if not isinstance(body, dict):
        raise refuse("the body must be a JSON object", "", "wrong_type")
    unknown = sorted(set(body) - _REQUEST_FIELDS)
    if unknown:
        raise refuse(f"unknown field {unknown[0]!r}", unknown[0], "unknown_field")
    for name in ("graph_hash", "catalog"):
        if name not in body:
            raise refuse(f"{name} is required", name, "missing_field")
    if not isinstance(body["graph_hash"], str):
        raise refuse("graph_hash must be a string", "graph_hash", "wrong_type")
    try:
        graph_hash = parse_graph_hash(body["graph_hash"])
    except InvalidDigest as exc:
        raise refuse(str(exc), "graph_hash", "invalid_graph_hash") from None
    if not isinstance(body["catalog"], dict):
        raise refuse("catalog must be a stella.vuln-catalog/v1 object", "catalog", "wrong_type")
    since = None
    if body.get("since") is not None:
        text = body["since"]
        since = parse_rfc3339(text) if isinstance(text, str) else None
        if since is None:
            raise refuse("since must be an RFC 3339 date-time with an offset", "since",
                         "invalid_since")  # fmt: skip
    formats: list[VexFormat] = []
    vex = body.get("vex", [])
    if not isinstance(vex, list):
        raise refuse("vex must be a list of formats", "vex", "wrong_type")
    for number, name in enumerate(vex):
        if name not in {f.value for f in VexFormat} or name in formats:
            raise refuse(f"vex[{number}] must be openvex or cyclonedx, once each",
                         f"vex/{number}", "invalid_vex_format")  # fmt: skip
        formats.append(VexFormat(name))
    product = body.get("product")
    if product is not None and (not isinstance(product, str) or not product.strip()):
        raise refuse("product must be a non-empty string (a purl)", "product", "wrong_type")
    return EvaluateRequest(
        graph_hash=graph_hash,
        catalog=json.dumps(body["catalog"], ensure_ascii=False).encode(),
        since=since,
        vex=tuple(formats),
        product=product,
    )


def evaluate_request(
    ctx: IngestContext, tenant: TenantId, request: EvaluateRequest
) -> tuple[EvaluationOutcome, list[StoredVex]]:
    """What ``POST /api/v1/reachability/evaluate`` does: the graph must be the tenant's
    (`NotFound` before anything is kept), the catalog is checked and kept, then evaluated."""
    if ctx.repo.get_graph(tenant, str(request.graph_hash)) is None:
        raise NotFound(f"no graph {request.graph_hash}")
    catalog, _ = store_catalog(ctx, tenant, request.catalog)
    return evaluate_pair(
        ctx, tenant, request.graph_hash, catalog, since=request.since, vex=request.vex,
        product=request.product,
    )  # fmt: skip
