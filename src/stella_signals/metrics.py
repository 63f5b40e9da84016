"""The service's Prometheus metrics (SPEC §12), on a registry of their own.

Exactly these series, and no others::

    reachability_orphan_traces_total{tenant}   counter    orphan traces queued, per tenant
    reachability_orphan_queue_depth            gauge      orphans waiting for their graph
    signals_runtime_ingest_total{result}       counter    finished ingests, by outcome
    signals_runtime_ingest_records_total       counter    trace records read by ingests
    signals_runtime_ingest_bytes_total         counter    trace bytes received by ingests
    signals_ingest_duration_seconds            histogram  wall time of one ingest
    signals_time_staleness_seconds             gauge      now - time anchor (SPEC §11)
    signals_clock_drift_seconds                gauge      local clock - NTP reference, signed
    signals_staging_swept_total                counter    abandoned staging files removed

Each `Metrics` owns a fresh `CollectorRegistry` (never the process-global default), so a test
or a second app in one process starts from zero and cannot collide with another's series.
`render` drops the ``*_created`` samples prometheus_client adds to counters and histograms:
they are not SPEC series, and scrapers do not need them.

Labels are closed sets, so a bug cannot explode cardinality:

* ``result`` is one of `INGEST_RESULTS`: ``ingested``, ``duplicate``, ``orphaned``,
  ``unavailable`` (our own store was down: 503, nothing recorded) and every SPEC §7 failure
  reason (`stella_signals.timeline.FailureReason`); anything else is refused
  with `ValueError` before any series changes.
* ``tenant`` is a validated tenant id (SPEC §1), and it appears on
  ``reachability_orphan_traces_total`` only, because SPEC §12 names it so. Nothing else is
  labelled by tenant: the number of series stays independent of the number of tenants.

Who may read them: ``GET /metrics`` is for operators. Like ``/healthz`` and ``/readyz`` it
takes no bearer token (SPEC §6), so it must be scraped on the service network and not be
routed to tenants — the tenant label on the orphan counter would otherwise tell one tenant
that another exists and how often its traces arrive before their graph. See
``docs/metrics.md``.

Time gauges: `set_time` takes what the time service measured; a value that does not apply to
the current mode (no anchor in ``ntp`` mode, no reference in ``system`` mode) is exported as
NaN, which every comparison in an alert treats as false, rather than left at a stale number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    generate_latest,
)

from stella_signals.limits import require_count
from stella_signals.tenancy import parse_tenant
from stella_signals.timeline import FailureReason

__all__ = ["DURATION_BUCKETS", "INGEST_RESULTS", "UNAVAILABLE_RESULT", "Metrics"]

#: Outcomes of an ingest that are not failures (SPEC §6 table).
_SUCCESS_RESULTS: Final = ("ingested", "duplicate", "orphaned")

#: A store of ours was down (503, nothing recorded; the client retries). Not a SPEC §7
#: failure reason: the trace was not refused.
UNAVAILABLE_RESULT: Final = "unavailable"

#: The closed set of values of ``signals_runtime_ingest_total{result}``.
INGEST_RESULTS: Final[frozenset[str]] = frozenset(
    (*_SUCCESS_RESULTS, UNAVAILABLE_RESULT, *(reason.value for reason in FailureReason))
)

#: Upper bounds (seconds) of ``signals_ingest_duration_seconds``: 1 ms to 10 min, roughly
#: 1-2.5-5 per decade; anything slower lands in ``+Inf``.
DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip


class _WithoutCreated:
    """A view of a registry without the ``*_created`` samples (not SPEC series)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            kept = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            created = metric.name + "_created"
            kept.samples = [s for s in metric.samples if s.name != created]
            yield kept


class Metrics:
    """The SPEC §12 metrics of one service instance; build with `Metrics.create()`."""

    def __init__(self, *, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._orphans = Counter(
            "reachability_orphan_traces_total",
            "Runtime traces queued as orphans (graph unknown to the tenant), per tenant.",
            ["tenant"],
            registry=registry,
        )
        self._orphan_depth = Gauge(
            "reachability_orphan_queue_depth",
            "Orphan traces waiting for their graph or their next retry.",
            registry=registry,
        )
        self._ingests = Counter(
            "signals_runtime_ingest_total",
            "Finished runtime-trace ingests, by result (outcome or SPEC failure reason).",
            ["result"],
            registry=registry,
        )
        self._records = Counter(
            "signals_runtime_ingest_records_total",
            "Runtime trace records read by finished ingests.",
            registry=registry,
        )
        self._bytes = Counter(
            "signals_runtime_ingest_bytes_total",
            "Runtime trace bytes received (as sent, before decompression) by finished ingests.",
            registry=registry,
        )
        self._duration = Histogram(
            "signals_ingest_duration_seconds",
            "Wall time of one runtime-trace ingest, receive to commit or refusal.",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._staleness = Gauge(
            "signals_time_staleness_seconds",
            "Seconds since the trusted time anchor (anchor mode); NaN when not applicable.",
            registry=registry,
        )
        self._drift = Gauge(
            "signals_clock_drift_seconds",
            "Local clock minus the NTP reference, signed (ntp mode); NaN when not applicable.",
            registry=registry,
        )
        self._staging_swept = Counter(
            "signals_staging_swept_total",
            "Staging files (partial uploads left by a crash) and S3 staging objects removed "
            "by this process's sweeps.",
            registry=registry,
        )
        # Every result exists from the start, so rate() and absent-free alerts see zeros.
        for result in sorted(INGEST_RESULTS):
            self._ingests.labels(result=result)
        self.set_time(None, None)

    @classmethod
    def create(cls) -> Metrics:
        """A `Metrics` on a fresh, private `CollectorRegistry`."""
        return cls(registry=CollectorRegistry(auto_describe=True))

    def ingest_finished(self, result: str, *, records: int, size: int, seconds: float) -> None:
        """Record one finished ingest.

        ``result`` is one of `INGEST_RESULTS`; ``records`` the trace records this attempt read
        (0 when it failed before parsing); ``size`` the bytes it received, as sent; ``seconds``
        its wall time. An orphan's later retries and its expiry report only what they did
        themselves (its bytes were counted when it was received). Raises `ValueError`, and
        records nothing, when an argument is out of range.
        """
        if result not in INGEST_RESULTS:
            raise ValueError(f"unknown ingest result {result!r}; expected one of INGEST_RESULTS")
        require_count(records, "records", allow_zero=True)
        require_count(size, "size", allow_zero=True)
        if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be finite and non-negative, got {seconds!r}")
        self._ingests.labels(result=str(result)).inc()
        self._records.inc(records)
        self._bytes.inc(size)
        self._duration.observe(seconds)

    def orphan_queued(self, tenant: str) -> None:
        """Count one trace queued as an orphan for ``tenant`` (raises `InvalidTenant`)."""
        self._orphans.labels(tenant=parse_tenant(tenant)).inc()

    def set_orphan_queue_depth(self, n: int) -> None:
        """Set the number of orphans waiting (all tenants together)."""
        self._orphan_depth.set(require_count(n, "n", allow_zero=True))

    def staging_swept(self, n: int) -> None:
        """Count ``n`` abandoned staging files or objects removed by a sweep."""
        self._staging_swept.inc(require_count(n, "n", allow_zero=True))

    def set_time(self, staleness_seconds: float | None, drift_ms: float | None) -> None:
        """Export the time service's last measurement (SPEC §11); None exports NaN.

        ``drift_ms`` is in milliseconds, as in receipts; the gauge is in seconds, signed.
        """
        self._staleness.set(math.nan if staleness_seconds is None else float(staleness_seconds))
        self._drift.set(math.nan if drift_ms is None else float(drift_ms) / 1000.0)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition (format 0.0.4) and its ``Content-Type``."""
        return generate_latest(_WithoutCreated(self._registry)), CONTENT_TYPE_PLAIN_0_0_4
