"""SNTP drift and the ntp-mode time status (SPEC §11), against a real SNTP responder.

`SntpResponder` is a small UDP server on 127.0.0.1 answering NTPv4 client packets with
server (mode 4) packets whose receive and transmit times are its clock shifted by
``offset_ms``: a server ``+150 ms`` ahead means the local clock drifts by ``-150 ms``.
Every wait is bounded; nothing sleeps.
"""

from __future__ import annotations

import json
import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stella_signals.clock import FixedClock
from stella_signals.timeanchor import (
    DriftMeasurement,
    DriftMonitor,
    TimeMode,
    TimeUntrusted,
    measure_drift,
    ntp_status,
    parse_ntp_server,
    system_status,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
NTP_EPOCH_DELTA = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
PACKET = struct.Struct("!B B B b 11I")
#: Loopback round trips are far below this; the drift thresholds are 50 ms away.
TOLERANCE_MS = 40.0
#: Per-server timeout where no answer is expected: keeps those tests short.
SHORT_TIMEOUT = 0.3
#: Upper bound of any wait for the background thread.
WAIT = 5.0


def _ntp_time(unix: float) -> tuple[int, int]:
    ntp = unix + NTP_EPOCH_DELTA
    seconds = int(ntp)
    return seconds, int((ntp - seconds) * 2**32)


class SntpResponder:
    """A real SNTP server on 127.0.0.1; fields may be changed while it runs."""

    def __init__(self, offset_ms: float = 0.0) -> None:
        self.offset_ms = offset_ms
        self.answer = True
        self.mode = 4
        self.stratum = 1
        self.leap = 0
        self.echo_origin = True
        #: Seconds to wait before answering (a slow server; under the client's timeout).
        self.delay = 0.0
        self.requests = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)  # how often the loop looks at the stop flag
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sntp-responder", daemon=True)

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> SntpResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, client = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            self.requests += 1
            if self.answer and len(query) >= PACKET.size:
                time.sleep(self.delay / 2)  # a symmetric path: half the delay each way
                reply = self._reply(query)
                time.sleep(self.delay / 2)
                self._sock.sendto(reply, client)

    def _reply(self, query: bytes) -> bytes:
        fields = PACKET.unpack(query[: PACKET.size])
        origin = (fields[13], fields[14]) if self.echo_origin else (0, 0)
        now = _ntp_time(time.time() + self.offset_ms / 1000)
        return PACKET.pack(
            self.leap << 6 | 4 << 3 | self.mode,
            self.stratum,
            4,  # poll
            -20,  # precision: about a microsecond
            0,  # root delay
            0,  # root dispersion
            int.from_bytes(b"TEST", "big"),
            *now,  # reference
            *origin,  # originate: the client's transmit time
            *now,  # receive
            *now,  # transmit
        )


@pytest.fixture
def responder() -> Iterator[SntpResponder]:
    with SntpResponder() as server:
        yield server


@pytest.fixture
def dead_server() -> str:
    """A loopback UDP port with nothing listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


# --- measure_drift --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset_ms", "blocked"),
    [(150.0, False), (-150.0, False), (250.0, True), (-250.0, True)],
)
def test_drift_against_a_shifted_server(
    responder: SntpResponder, offset_ms: float, blocked: bool
) -> None:
    responder.offset_ms = offset_ms
    measurement = measure_drift([responder.spec], clock=FixedClock(NOW))

    assert measurement is not None
    assert measurement.drift_ms == pytest.approx(-offset_ms, abs=TOLERANCE_MS)
    assert measurement.server == responder.spec
    assert measurement.measured_at == NOW
    status = ntp_status(measurement)
    assert status.mode is TimeMode.NTP
    assert status.blocked is blocked and status.trusted is not blocked
    assert status.drift_ms == measurement.drift_ms
    assert status.reason == ("clock_drift" if blocked else None)


def test_no_answer_blocks(dead_server: str) -> None:
    assert measure_drift([dead_server], timeout=SHORT_TIMEOUT) is None
    status = ntp_status(None)
    assert status.blocked and status.reason == "clock_drift" and status.drift_ms is None
    with pytest.raises(TimeUntrusted) as caught:
        status.raise_for_blocked()
    assert caught.value.reason == "clock_drift" and caught.value.retry_after_seconds == 60


def test_silent_server_times_out(responder: SntpResponder) -> None:
    responder.answer = False
    started = time.monotonic()
    assert measure_drift([responder.spec], timeout=SHORT_TIMEOUT) is None
    assert time.monotonic() - started < SHORT_TIMEOUT + 1
    assert responder.requests == 1


def test_first_answering_server_wins(dead_server: str) -> None:
    with SntpResponder(offset_ms=100) as first, SntpResponder(offset_ms=-100) as second:
        found = measure_drift([dead_server, first.spec, second.spec], timeout=SHORT_TIMEOUT)
        assert found is not None and found.server == first.spec
        assert found.drift_ms == pytest.approx(-100, abs=TOLERANCE_MS)
        assert second.requests == 0


def test_unresolvable_host_is_skipped(responder: SntpResponder) -> None:
    found = measure_drift(["no-such-host.invalid", responder.spec], timeout=SHORT_TIMEOUT)
    assert found is not None and found.server == responder.spec


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stratum", 0),  # kiss-o'-death
        ("stratum", 16),  # unsynchronised
        ("leap", 3),  # alarm: clock not synchronised
        ("mode", 3),  # a client packet, not a server answer
        ("mode", 5),  # broadcast
        ("echo_origin", False),  # not an answer to our query
    ],
)
def test_unusable_answers_count_as_no_answer(
    responder: SntpResponder, field: str, value: Any
) -> None:
    setattr(responder, field, value)
    assert measure_drift([responder.spec], timeout=SHORT_TIMEOUT) is None
    assert responder.requests == 1


def test_no_servers_means_no_answer() -> None:
    assert measure_drift([]) is None


@pytest.mark.parametrize(
    ("servers", "timeout"),
    [("127.0.0.1", 1.0), (["127.0.0.1:0"], 1.0), (["127.0.0.1"], 0.0), (["x"], float("nan"))],
)
def test_measure_drift_rejects_bad_arguments(servers: Any, timeout: float) -> None:
    with pytest.raises(ValueError):
        measure_drift(servers, timeout=timeout)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("pool.ntp.org", ("pool.ntp.org", 123)),
        ("10.0.0.1:1123", ("10.0.0.1", 1123)),
        ("[::1]", ("::1", 123)),
        ("[::1]:4123", ("::1", 4123)),
        ("fe80::1", ("fe80::1", 123)),
        ("time.example:65535", ("time.example", 65535)),
    ],
)
def test_parse_ntp_server(spec: str, expected: tuple[str, int]) -> None:
    assert parse_ntp_server(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "",
        ":123",
        "host:",
        "host:0",
        "host:65536",
        "host:12a",
        "host:+1",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[]",
        "a b",
        "user@host",
        "host/path",
    ],
)
def test_parse_ntp_server_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_ntp_server(spec)


# --- ntp_status and system_status -----------------------------------------------------------


@pytest.mark.parametrize(
    ("drift_ms", "blocked"),
    [(0.0, False), (200.0, False), (-200.0, False), (200.001, True), (-200.001, True)],
)
def test_ntp_status_threshold(drift_ms: float, blocked: bool) -> None:
    measurement = DriftMeasurement(drift_ms=drift_ms, server="ntp.test", measured_at=NOW)
    assert ntp_status(measurement).blocked is blocked
    assert ntp_status(measurement, max_drift_ms=300).blocked is False


def test_ntp_status_is_plain_json() -> None:
    measurement = DriftMeasurement(drift_ms=-12.5, server="ntp.test:123", measured_at=NOW)
    data = ntp_status(measurement).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "mode": "ntp",
        "trusted": True,
        "source": "ntp.test:123",
        "checked_at": "2025-03-01T12:00:00Z",
        "anchor_time": None,
        "staleness_seconds": None,
        "drift_ms": -12.5,
        "blocked": False,
        "reason": None,
        "retry_after_seconds": None,
        "message": data["message"],
    }


@pytest.mark.parametrize("arguments", [{"max_drift_ms": -1}, {"retry_after_seconds": 0}])
def test_ntp_status_rejects_bad_arguments(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ntp_status(None, **arguments)


def test_system_time_is_untrusted_but_never_blocked() -> None:
    status = system_status(NOW)
    assert status.mode is TimeMode.SYSTEM
    assert not status.trusted and not status.blocked and status.reason is None
    assert status.checked_at == NOW and status.source == "system"
    status.raise_for_blocked()
    with pytest.raises(ValueError):
        system_status(datetime(2025, 3, 1))


# --- DriftMonitor ---------------------------------------------------------------------------


def _next(rounds: queue.Queue[DriftMeasurement | None]) -> DriftMeasurement | None:
    return rounds.get(timeout=WAIT)


def test_monitor_measures_in_the_background_and_refreshes(responder: SntpResponder) -> None:
    responder.offset_ms = 150
    rounds: queue.Queue[DriftMeasurement | None] = queue.Queue()
    monitor = DriftMonitor(
        [responder.spec], clock=FixedClock(NOW), refresh_seconds=0.05, on_measurement=rounds.put
    )
    assert monitor.current() is None  # nothing measured yet
    with monitor:
        first = _next(rounds)
        assert first is not None
        assert first.drift_ms == pytest.approx(-150, abs=TOLERANCE_MS)
        cached = monitor.current()
        assert cached is not None and not ntp_status(cached).blocked

        responder.offset_ms = 250
        deadline = time.monotonic() + WAIT
        while True:  # rounds already under way may still see the old offset
            latest = _next(rounds)
            assert latest is not None
            if latest.drift_ms < -200 or time.monotonic() > deadline:
                break
        assert latest.drift_ms == pytest.approx(-250, abs=TOLERANCE_MS)
        refreshed = monitor.current()
        assert refreshed is not None and ntp_status(refreshed).reason == "clock_drift"


def test_current_never_touches_the_network(responder: SntpResponder) -> None:
    rounds: queue.Queue[DriftMeasurement | None] = queue.Queue()
    monitor = DriftMonitor(
        [responder.spec], clock=FixedClock(NOW), refresh_seconds=600, on_measurement=rounds.put
    )
    with monitor:
        assert _next(rounds) is not None
        asked = responder.requests
        for _ in range(100):
            assert monitor.current() is not None
        assert responder.requests == asked == 1


def test_measurement_ages_out_after_sixty_seconds(responder: SntpResponder) -> None:
    clock = FixedClock(NOW)
    monitor = DriftMonitor([responder.spec], clock=clock)
    measured = monitor.refresh()
    assert measured is not None and monitor.current() == measured

    clock.advance(timedelta(seconds=60))
    assert monitor.current() == measured
    clock.advance(timedelta(microseconds=1))
    assert monitor.current() is None
    assert ntp_status(monitor.current()).reason == "clock_drift"


def test_a_round_without_answer_keeps_the_last_measurement(responder: SntpResponder) -> None:
    clock = FixedClock(NOW)
    monitor = DriftMonitor([responder.spec], clock=clock, timeout=SHORT_TIMEOUT)
    measured = monitor.refresh()
    assert measured is not None

    clock.advance(timedelta(seconds=30))
    responder.answer = False
    assert monitor.refresh() is None
    assert monitor.current() == measured  # still within 60 s of its measurement

    clock.advance(timedelta(seconds=31))
    assert monitor.current() is None


def test_monitor_without_answers_blocks(dead_server: str) -> None:
    rounds: queue.Queue[DriftMeasurement | None] = queue.Queue()
    monitor = DriftMonitor(
        [dead_server],
        clock=FixedClock(NOW),
        refresh_seconds=600,
        timeout=SHORT_TIMEOUT,
        on_measurement=rounds.put,
    )
    with monitor:
        assert _next(rounds) is None
        assert monitor.current() is None
        assert ntp_status(monitor.current()).blocked


def test_measurement_from_a_clock_stepped_back_is_not_served(responder: SntpResponder) -> None:
    clock = FixedClock(NOW)
    monitor = DriftMonitor([responder.spec], clock=clock)
    assert monitor.refresh() is not None
    clock.advance(timedelta(seconds=-1))
    assert monitor.current() is None


def test_start_and_stop_are_idempotent(responder: SntpResponder) -> None:
    rounds: queue.Queue[DriftMeasurement | None] = queue.Queue()
    monitor = DriftMonitor(
        [responder.spec], clock=FixedClock(NOW), refresh_seconds=600, on_measurement=rounds.put
    )
    monitor.stop()  # never started
    monitor.start()
    monitor.start()
    assert _next(rounds) is not None
    monitor.stop()
    monitor.stop()
    assert rounds.empty() and responder.requests == 1  # one thread, one round
    monitor.start()  # may be restarted
    assert _next(rounds) is not None
    monitor.stop()


@pytest.mark.parametrize(
    "arguments",
    [
        {"servers": []},
        {"servers": "127.0.0.1"},
        {"servers": ["host:0"]},
        {"refresh_seconds": 0},
        {"max_age_seconds": -1},
        {"timeout": float("inf")},
    ],
)
def test_monitor_rejects_bad_arguments(arguments: dict[str, Any]) -> None:
    values: dict[str, Any] = {"servers": ["127.0.0.1"], "clock": FixedClock(NOW)}
    values.update(arguments)
    with pytest.raises(ValueError):
        DriftMonitor(values.pop("servers"), **values)


def test_monitor_keeps_its_server_list() -> None:
    servers = ["127.0.0.1:1123", "[::1]"]
    assert DriftMonitor(servers, clock=FixedClock(NOW)).servers == tuple(servers)


def test_parse_ntp_server_rejects_non_strings() -> None:
    with pytest.raises(ValueError):
        parse_ntp_server(123)  # type: ignore[arg-type]


def test_status_is_blocked_exactly_when_it_has_a_reason() -> None:
    with pytest.raises(ValueError):
        replace(system_status(NOW), reason="clock_drift")
    with pytest.raises(ValueError):
        replace(ntp_status(None), trusted=True)
