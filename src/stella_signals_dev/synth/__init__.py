"""Deterministic synthetic runtime traces and richgraph-v1 graphs, for tests, demos and
benchmarks. Same :class:`SynthSpec` (seed included) -> byte-identical output."""

from stella_signals_dev.synth._generate import (
    DEFECT_FIELDS,
    DEFECT_SEVERITY,
    DEFECTS,
    SYNTH_VERSION,
    GraphFileInfo,
    SynthSpec,
    SynthSymbol,
    TraceFileInfo,
    build_graph,
    canonical_symbol_id,
    graph_bytes,
    iter_trace_lines,
    symbol_table,
    trace_bytes,
    write_graph,
    write_trace,
)

__all__ = [
    "DEFECTS",
    "DEFECT_FIELDS",
    "DEFECT_SEVERITY",
    "SYNTH_VERSION",
    "GraphFileInfo",
    "SynthSpec",
    "SynthSymbol",
    "TraceFileInfo",
    "build_graph",
    "canonical_symbol_id",
    "graph_bytes",
    "iter_trace_lines",
    "symbol_table",
    "trace_bytes",
    "write_graph",
    "write_trace",
]
