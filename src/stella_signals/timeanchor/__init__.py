"""Trusted time (SPEC §11): signed time anchors, SNTP drift, and whether ingest may proceed.

Anchors enter through `check_anchor` (report) or `verify_anchor` (raises); only the latter
makes a `VerifiedAnchor`. `anchor_status`, `ntp_status` and `system_status` turn the current
evidence into a `TimeStatus`; a blocked one raises `TimeUntrusted` via `raise_for_blocked`.
"""

from stella_signals.timeanchor._anchor import (
    ANCHOR_FORMAT,
    ANCHOR_PAYLOAD_TYPE,
    MAX_ANCHOR_BYTES,
    RFC3161_FORMAT,
    AnchorClaims,
    AnchorInvalid,
    AnchorReason,
    AnchorReport,
    ReplayedAnchor,
    VerifiedAnchor,
    check_anchor,
    mint_anchor,
    verify_anchor,
)
from stella_signals.timeanchor._ntp import (
    DEFAULT_MAX_AGE_SECONDS,
    DEFAULT_REFRESH_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    NTP_PORT,
    DriftMeasurement,
    DriftMonitor,
    measure_drift,
    parse_ntp_server,
)
from stella_signals.timeanchor._status import (
    DEFAULT_BUDGET_SECONDS,
    DEFAULT_MAX_DRIFT_MS,
    DEFAULT_RETRY_AFTER_SECONDS,
    DEFAULT_SKEW_SECONDS,
    TimeMode,
    TimeReason,
    TimeStatus,
    TimeUntrusted,
    anchor_status,
    budget_crossed,
    ntp_status,
    system_status,
)

__all__ = [
    "ANCHOR_FORMAT",
    "ANCHOR_PAYLOAD_TYPE",
    "DEFAULT_BUDGET_SECONDS",
    "DEFAULT_MAX_AGE_SECONDS",
    "DEFAULT_MAX_DRIFT_MS",
    "DEFAULT_REFRESH_SECONDS",
    "DEFAULT_RETRY_AFTER_SECONDS",
    "DEFAULT_SKEW_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_ANCHOR_BYTES",
    "NTP_PORT",
    "RFC3161_FORMAT",
    "AnchorClaims",
    "AnchorInvalid",
    "AnchorReason",
    "AnchorReport",
    "DriftMeasurement",
    "DriftMonitor",
    "ReplayedAnchor",
    "TimeMode",
    "TimeReason",
    "TimeStatus",
    "TimeUntrusted",
    "VerifiedAnchor",
    "anchor_status",
    "budget_crossed",
    "check_anchor",
    "measure_drift",
    "mint_anchor",
    "ntp_status",
    "parse_ntp_server",
    "system_status",
    "verify_anchor",
]
