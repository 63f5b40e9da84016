"""Services: THE ingest pipeline and what it writes to (graph catalog, ...)."""

from stella_signals.ingest._context import (
    GraphIngestResult,
    IngestContext,
    IngestFailed,
    IngestResult,
    Outcome,
    RuntimeUpload,
)
from stella_signals.ingest._evidence import evidence_record, evidence_with_receipt
from stella_signals.ingest._graph_ingest import ingest_graph
from stella_signals.ingest._graphs import (
    GraphCatalog,
    ImportedGraph,
    LoadedGraph,
    parse_graph_hash,
)
from stella_signals.ingest._orphans import (
    ORPHAN_LIFETIME,
    RetryStats,
    backoff,
    retry_orphans,
    worker_name,
)
from stella_signals.ingest._pipeline import enforce_trace_attestation, ingest_runtime
from stella_signals.ingest._stages import record_outcome, record_rejection
from stella_signals.ingest._symbols import SymbolsIngestResult, ingest_symbol_manifest
from stella_signals.ingest._sync import (
    ImportStats,
    SyncRefused,
    import_evidence_bundle,
    import_signed_events,
    sign_event_batch,
)
from stella_signals.ingest._time import TimeKeeper, TimeSettings, import_anchor

__all__ = [
    "ORPHAN_LIFETIME",
    "GraphCatalog",
    "GraphIngestResult",
    "ImportStats",
    "ImportedGraph",
    "IngestContext",
    "IngestFailed",
    "IngestResult",
    "LoadedGraph",
    "Outcome",
    "RetryStats",
    "RuntimeUpload",
    "SymbolsIngestResult",
    "SyncRefused",
    "TimeKeeper",
    "TimeSettings",
    "backoff",
    "enforce_trace_attestation",
    "evidence_record",
    "evidence_with_receipt",
    "import_anchor",
    "import_evidence_bundle",
    "import_signed_events",
    "ingest_graph",
    "ingest_runtime",
    "ingest_symbol_manifest",
    "parse_graph_hash",
    "record_outcome",
    "record_rejection",
    "retry_orphans",
    "sign_event_batch",
    "worker_name",
]
