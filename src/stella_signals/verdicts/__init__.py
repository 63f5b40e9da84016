"""Services: reachability verdicts (SPEC §15) on the ports: evaluations with their history
and events, re-evaluation of registered (graph, catalog) pairs, signed VEX documents and their
Evidence Locker bundles."""

from stella_signals.verdicts._service import (
    EvaluationOutcome,
    ReevaluationStats,
    StoredVex,
    change_json,
    default_product,
    evaluate_pair,
    gather,
    load_catalog,
    receipt_digest,
    reevaluate_due,
    store_catalog,
    vex_bundle,
    vex_document,
    vex_envelope,
)

__all__ = [
    "EvaluationOutcome",
    "ReevaluationStats",
    "StoredVex",
    "change_json",
    "default_product",
    "evaluate_pair",
    "gather",
    "load_catalog",
    "receipt_digest",
    "reevaluate_due",
    "store_catalog",
    "vex_bundle",
    "vex_document",
    "vex_envelope",
]
