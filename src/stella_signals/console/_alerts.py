"""Which of the `/metrics` alert rules (deploy/prometheus/alerts.yml, docs/metrics.md) would
fire for a tenant now, evaluated from the tenant's own records instead of Prometheus series.

Pure: the caller gives the tenant's ingests of the last 15 minutes (the rules' window), the
orphan queue depth and the time status. A rule's ``for:`` duration is not waited for here (the
console has no history): an alert shown is one whose condition holds now. Duplicates are not
ingest rows, so shares are of recorded ingests (ingested, orphaned, expired, failed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from stella_signals.ports import IngestRecord
from stella_signals.timeanchor import TimeStatus

__all__ = ["WINDOW_MINUTES", "Alert", "AlertState", "evaluate_alerts"]

WINDOW_MINUTES = 15
#: The thresholds of deploy/prometheus/alerts.yml.
ORPHANS_PER_MINUTE = 1.0
FAILING_SHARE = 0.05
QUEUE_DEPTH = 100
STALENESS_SECONDS = 86_400
DRIFT_MS = 200.0
EVIDENCE_REASONS = ("hash_mismatch", "dsse_invalid")


class AlertState(StrEnum):
    FIRING = "firing"
    OK = "ok"
    #: The rule reads a series this view cannot rebuild (a latency histogram, a slope).
    NOT_EVALUATED = "not evaluated"


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    severity: str
    state: AlertState
    detail: str


def evaluate_alerts(
    recent: Sequence[IngestRecord], *, queue_depth: int, time: TimeStatus
) -> list[Alert]:
    """Every rule of alerts.yml, in its order, with its state for this tenant."""
    total = len(recent)
    orphaned = sum(1 for r in recent if r.status == "orphaned")
    failures = Counter(r.reason or "unknown" for r in recent if r.status == "failed")
    rate = orphaned / WINDOW_MINUTES
    alerts = [
        Alert(
            "ReachabilityOrphanRateHigh",
            "warning",
            AlertState.FIRING if rate > ORPHANS_PER_MINUTE else AlertState.OK,
            f"{orphaned} orphan(s) in {WINDOW_MINUTES} min ({rate:.2f}/min; fires above "
            f"{ORPHANS_PER_MINUTE:g}/min)",
        ),
        Alert(
            "ReachabilityOrphanQueueGrowing",
            "warning",
            AlertState.NOT_EVALUATED if queue_depth > QUEUE_DEPTH else AlertState.OK,
            f"{queue_depth} orphan(s) of this tenant waiting; fires above {QUEUE_DEPTH} when still "
            "growing over 1 h, which needs Prometheus's history",
        ),
    ]
    failing = sorted(
        (reason, count) for reason, count in failures.items() if count / total > FAILING_SHARE
    )
    alerts.append(
        Alert(
            "SignalsIngestFailing",
            "warning",
            AlertState.FIRING if failing else AlertState.OK,
            (
                "; ".join(f"{reason}: {count} of {total}" for reason, count in failing)
                if failing
                else f"{sum(failures.values())} failure(s) of {total} ingest(s); fires when one "
                f"reason passes {FAILING_SHARE:.0%}"
            ),
        )
    )
    rejected = {reason: failures[reason] for reason in EVIDENCE_REASONS if failures[reason]}
    alerts.append(
        Alert(
            "SignalsIngestEvidenceRejected",
            "warning",
            AlertState.FIRING if rejected else AlertState.OK,
            ", ".join(f"{reason}: {count}" for reason, count in rejected.items())
            or f"no hash_mismatch or dsse_invalid in {WINDOW_MINUTES} min",
        )
    )
    alerts.append(
        Alert(
            "SignalsIngestLatencyHigh",
            "warning",
            AlertState.NOT_EVALUATED,
            "p99 ingest duration over 30 s: read from the signals_ingest_duration_seconds "
            "histogram by Prometheus",
        )
    )
    staleness = time.staleness_seconds
    alerts.append(
        Alert(
            "SignalsTimeAnchorStale",
            "critical",
            AlertState.FIRING
            if staleness is not None and staleness > STALENESS_SECONDS
            else AlertState.OK,
            "no anchor staleness in this mode"
            if staleness is None
            else f"staleness {staleness:,.0f} s (fires above {STALENESS_SECONDS:,} s)",
        )
    )
    drift = time.drift_ms
    alerts.append(
        Alert(
            "SignalsClockDrift",
            "critical",
            AlertState.FIRING if drift is not None and abs(drift) > DRIFT_MS else AlertState.OK,
            "no drift measured in this mode"
            if drift is None
            else f"drift {drift:+.1f} ms (fires beyond ±{DRIFT_MS:g} ms)",
        )
    )
    return alerts
