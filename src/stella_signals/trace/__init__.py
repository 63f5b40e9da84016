"""Runtime traces (SPEC §2): streaming parse, validation and aggregation."""

from stella_signals.trace._model import (
    MAX_COUNT,
    Diagnostic,
    Reason,
    Record,
    RuntimeFact,
    Severity,
    TraceReport,
)
from stella_signals.trace._parse import DiagnosticSink, parse_trace, trace_core
from stella_signals.trace._probe_manifest import (
    PROBE_MANIFEST_PART,
    PROBE_MANIFEST_SCHEMA,
    ProbeManifest,
    check_probe_manifest,
    parse_probe_manifest,
)
from stella_signals.trace._purl import purl_problem

__all__ = [
    "MAX_COUNT",
    "PROBE_MANIFEST_PART",
    "PROBE_MANIFEST_SCHEMA",
    "Diagnostic",
    "DiagnosticSink",
    "ProbeManifest",
    "Reason",
    "Record",
    "RuntimeFact",
    "Severity",
    "TraceReport",
    "check_probe_manifest",
    "parse_probe_manifest",
    "parse_trace",
    "purl_problem",
    "trace_core",
]
