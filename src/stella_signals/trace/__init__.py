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
from stella_signals.trace._parse import DiagnosticSink, parse_trace
from stella_signals.trace._purl import purl_problem

__all__ = [
    "MAX_COUNT",
    "Diagnostic",
    "DiagnosticSink",
    "Reason",
    "Record",
    "RuntimeFact",
    "Severity",
    "TraceReport",
    "parse_trace",
    "purl_problem",
]
