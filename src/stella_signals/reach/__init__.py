"""Reachability verdicts (SPEC §15): a vulnerability catalog evaluated against a graph and the
runtime evidence of a window. The core of this package does no I/O."""

from stella_signals.reach._model import (
    CATALOG_SCHEMA,
    CONFIDENCE,
    Catalog,
    CatalogEntry,
    Evaluation,
    Runtime,
    RuntimeEvidence,
    State,
    Static,
    Unknown,
    Verdict,
    combine,
)

__all__ = [
    "CATALOG_SCHEMA",
    "CONFIDENCE",
    "Catalog",
    "CatalogEntry",
    "Evaluation",
    "Runtime",
    "RuntimeEvidence",
    "State",
    "Static",
    "Unknown",
    "Verdict",
    "combine",
]
