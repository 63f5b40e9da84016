"""Services: reachability verdicts (SPEC §15) on the ports: evaluations with their history
and events, re-evaluation of registered (graph, catalog) pairs, signed VEX documents and their
Evidence Locker bundles."""

from stella_signals.verdicts._service import (
    EvaluateRequest,
    EvaluationOutcome,
    ReevaluationStats,
    StoredVex,
    change_json,
    default_product,
    evaluate_pair,
    evaluate_request,
    gather,
    load_catalog,
    parse_evaluate_request,
    receipt_digest,
    reevaluate_due,
    store_catalog,
    vex_bundle,
    vex_document,
    vex_envelope,
    vex_item,
)

__all__ = [
    "EvaluateRequest",
    "EvaluationOutcome",
    "ReevaluationStats",
    "StoredVex",
    "change_json",
    "default_product",
    "evaluate_pair",
    "evaluate_request",
    "gather",
    "load_catalog",
    "parse_evaluate_request",
    "receipt_digest",
    "reevaluate_due",
    "store_catalog",
    "vex_bundle",
    "vex_document",
    "vex_envelope",
    "vex_item",
]
