"""SNTP drift of the local clock (SPEC §11 mode ``ntp``), measured with ntplib.

`measure_drift` asks the configured servers in order and keeps the first sane answer;
`DriftMonitor` does that in a background thread and serves the last measurement from memory,
so a request never waits on the network, except the first ones of a process: until the
monitor's first round has ended (at most 1 s per server), `current` waits for it rather than
refusing on a measurement nobody has had the time to make. ntplib is used here and nowhere else; its
exceptions do not leave this module.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

import ntplib  # type: ignore[import-untyped]  # ntplib 0.4.0 ships no type hints

from stella_signals.clock import Clock, SystemClock
from stella_signals.timeanchor._status import DriftMeasurement

__all__ = [
    "DEFAULT_MAX_AGE_SECONDS",
    "DEFAULT_REFRESH_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "NTP_PORT",
    "DriftMonitor",
    "measure_drift",
    "parse_ntp_server",
]

NTP_PORT = 123
#: Per-server wait for an answer (SPEC §11: 1 s each).
DEFAULT_TIMEOUT_SECONDS = 1.0
#: How long a measurement is served (SPEC §11: cached ≤ 60 s).
DEFAULT_MAX_AGE_SECONDS = 60.0
#: How often the monitor measures: half the cache lifetime, so one lost round does not block.
DEFAULT_REFRESH_SECONDS = 30.0

_log = logging.getLogger(__name__)
_PORT = re.compile(r"[0-9]{1,5}")
_SERVER_MODE = 4
_UNSYNCHRONISED = 3  # leap indicator "alarm": the server's clock is not synchronised


def parse_ntp_server(spec: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address → (host, port).

    Raises `ValueError` for anything else (an empty host, a port outside 1-65535).
    """
    if not isinstance(spec, str):
        raise ValueError(f"NTP server must be a string, got {type(spec).__name__}")
    host, port_text = spec, ""
    if spec.startswith("["):
        host, bracket, rest = spec[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"NTP server {spec!r}: expected [address] or [address]:port")
        port_text = rest[1:] if rest else ""
        if rest and not port_text:
            raise ValueError(f"NTP server {spec!r}: empty port")
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
        if not port_text:
            raise ValueError(f"NTP server {spec!r}: empty port")
    if not host or any(c.isspace() or c in "[]/@" for c in host):
        raise ValueError(f"NTP server {spec!r}: not a host name or address")
    port = NTP_PORT
    if port_text:
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"NTP server {spec!r}: port must be 1-65535")
        port = int(port_text)
    return host, port


def measure_drift(
    servers: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    clock: Clock | None = None,
) -> DriftMeasurement | None:
    """Ask ``servers`` in order (``timeout`` seconds each); the first sane answer wins.

    None when no server answered sanely. ``measured_at`` comes from ``clock`` (default: the
    system clock). The drift is that of the host clock (``time.time()``, which
    `SystemClock` reads). `ValueError` for a malformed server, before any packet is sent.
    """
    if isinstance(servers, str):
        raise ValueError("servers must be a sequence of host[:port] strings, not one string")
    targets = [(spec, *parse_ntp_server(spec)) for spec in servers]
    if isinstance(timeout, bool) or not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    clock = clock or SystemClock()
    client = ntplib.NTPClient()
    for spec, host, port in targets:
        try:
            stats = client.request(host, version=4, port=port, timeout=timeout)
        except (ntplib.NTPException, OSError) as exc:  # no answer, refused, unresolvable
            _log.debug("NTP server %s did not answer: %s", spec, exc)
            continue
        drift_ms = _drift_ms(stats, timeout)
        if drift_ms is None:
            _log.debug("NTP server %s sent an unusable answer", spec)
            continue
        return DriftMeasurement(drift_ms=drift_ms, server=spec, measured_at=clock.now())
    _log.warning("no NTP server answered: %s", ", ".join(servers) or "(none configured)")
    return None


def _drift_ms(stats: Any, timeout: float) -> float | None:
    """Local - reference in ms from an ntplib answer, or None when the answer is unusable:
    not from a server, unsynchronised, kiss-of-death, or not echoing a recent query."""
    if (
        stats.mode != _SERVER_MODE
        or stats.leap == _UNSYNCHRONISED
        or not 1 <= stats.stratum <= 15
        or not stats.tx_timestamp
    ):
        return None
    # The server echoes our transmit time as its originate time; ntplib does not check it.
    round_trip = float(stats.dest_timestamp) - float(stats.orig_timestamp)
    if not 0 <= round_trip <= timeout + 1:
        return None
    offset = float(stats.offset)  # ntplib: reference - local, in seconds
    return -offset * 1000.0 if math.isfinite(offset) else None


class DriftMonitor:
    """Measures drift every ``refresh_seconds`` in a background thread.

    `current` serves the last measurement while it is at most ``max_age_seconds`` old by
    ``clock`` and never touches the network; a round with no answer keeps the previous
    measurement until it ages out. While the first round of a started monitor is still
    running, `current` waits for it (at most ``timeout`` per server), so a process that has
    just started decides on a real answer instead of "no server answered".
    ``on_measurement`` is called from the thread after every round (None when no server
    answered), e.g. to update metrics.
    """

    def __init__(
        self,
        servers: Sequence[str],
        *,
        clock: Clock,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        on_measurement: Callable[[DriftMeasurement | None], object] | None = None,
    ) -> None:
        if isinstance(servers, str):
            raise ValueError("servers must be a sequence of host[:port] strings, not one string")
        if not servers:
            raise ValueError("DriftMonitor needs at least one NTP server")
        for spec in servers:
            parse_ntp_server(spec)
        for name, value in (
            ("refresh_seconds", refresh_seconds),
            ("max_age_seconds", max_age_seconds),
            ("timeout", timeout),
        ):
            if isinstance(value, bool) or not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self._servers = tuple(servers)
        self._clock = clock
        self._refresh = float(refresh_seconds)
        self._max_age = timedelta(seconds=max_age_seconds)
        self._timeout = float(timeout)
        self._on_measurement = on_measurement
        self._lock = threading.Lock()
        self._last: DriftMeasurement | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set once a round has ended (answer or not): `current` no longer waits.
        self._first_round = threading.Event()

    @property
    def servers(self) -> tuple[str, ...]:
        return self._servers

    def current(self) -> DriftMeasurement | None:
        """The cached measurement if at most ``max_age_seconds`` old, else None.

        Waits for the first round of a running monitor to end (``timeout`` per server, plus
        a little) before deciding; never waits once a round has ended or when not started.
        """
        thread = self._thread
        if thread is not None and thread.is_alive() and not self._first_round.is_set():
            self._first_round.wait(self._timeout * len(self._servers) + 0.5)
        with self._lock:
            last = self._last
        if last is None:
            return None
        age = self._clock.now() - last.measured_at
        return last if timedelta(0) <= age <= self._max_age else None

    def refresh(self) -> DriftMeasurement | None:
        """Measure now (blocking on the network), cache an answer, and return it."""
        try:
            measurement = measure_drift(self._servers, timeout=self._timeout, clock=self._clock)
            if measurement is not None:
                with self._lock:
                    self._last = measurement
        finally:
            self._first_round.set()
        if self._on_measurement is not None:
            self._on_measurement(measurement)
        return measurement

    def start(self) -> None:
        """Start measuring in the background (first round at once); no-op when running."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="ntp-drift-monitor", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waiting at most for one round of server timeouts."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._timeout * len(self._servers) + 1.0)

    def __enter__(self) -> DriftMonitor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.refresh()
            stop.wait(self._refresh)
