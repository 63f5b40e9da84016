"""Services: THE ingest pipeline and what it writes to (graph catalog, ...)."""

from stella_signals.ingest._graphs import (
    GraphCatalog,
    ImportedGraph,
    LoadedGraph,
    parse_graph_hash,
)
from stella_signals.ingest._pipeline import (
    RECEIPT_SCHEMA,
    GraphIngestResult,
    IngestContext,
    IngestFailed,
    IngestResult,
    Outcome,
    RuntimeUpload,
    ingest_graph,
    ingest_runtime,
    record_rejection,
)

__all__ = [
    "RECEIPT_SCHEMA",
    "GraphCatalog",
    "GraphIngestResult",
    "ImportedGraph",
    "IngestContext",
    "IngestFailed",
    "IngestResult",
    "LoadedGraph",
    "Outcome",
    "RuntimeUpload",
    "ingest_graph",
    "ingest_runtime",
    "parse_graph_hash",
    "record_rejection",
]
