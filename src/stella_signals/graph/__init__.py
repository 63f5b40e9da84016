"""Static call graphs (richgraph-v1, SPEC §3), their hash, index and the verify report (§9)."""

from stella_signals.graph._canonical import (
    CanonicalGraph,
    canonical_graph,
    canonicalise,
    load_canonical,
)
from stella_signals.graph._index import INDEX_FORMAT, GraphIndex, build_index
from stella_signals.graph._model import (
    GRAPH_SCHEMA,
    ROOT_PHASES,
    GraphProblem,
    InvalidGraph,
    RichGraph,
    check_graph,
    parse_graph,
)
from stella_signals.graph._verify import (
    EdgePair,
    PurlMismatch,
    UnexpectedEdge,
    UnmappedSymbol,
    VerifyReport,
    map_trace,
    resolve_edges,
)

__all__ = [
    "GRAPH_SCHEMA",
    "INDEX_FORMAT",
    "ROOT_PHASES",
    "CanonicalGraph",
    "EdgePair",
    "GraphIndex",
    "GraphProblem",
    "InvalidGraph",
    "PurlMismatch",
    "RichGraph",
    "UnexpectedEdge",
    "UnmappedSymbol",
    "VerifyReport",
    "build_index",
    "canonical_graph",
    "canonicalise",
    "check_graph",
    "load_canonical",
    "map_trace",
    "parse_graph",
    "resolve_edges",
]
