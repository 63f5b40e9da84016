"""Services: the ingest pipeline and what it writes to (graph catalog, ...)."""

from stella_signals.ingest._graphs import (
    GraphCatalog,
    ImportedGraph,
    LoadedGraph,
    parse_graph_hash,
)

__all__ = ["GraphCatalog", "ImportedGraph", "LoadedGraph", "parse_graph_hash"]
