"""Runbook §4 checks: a stale time anchor or clock drift blocks ingest (503 + Retry-After
online, exit 5 offline), with staleness_seconds/drift_ms in receipts and events."""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from stella_signals.api import create_app
from stella_signals.attest import generate_private_key_pem, load_signer, public_key_pem
from stella_signals.auth import new_token, token_hash
from stella_signals.cli.offline import app as offline_app
from stella_signals.clock import FixedClock
from stella_signals.ids import new_ulid
from stella_signals.ingest import IngestFailed, RuntimeUpload, import_anchor, ingest_runtime
from stella_signals.ports import KeyPurpose, TrustedKey
from stella_signals.tenancy import parse_tenant
from stella_signals.timeanchor import mint_anchor
from stella_signals.wiring import Services, load_settings
from stella_signals_dev.synth import SynthSpec, trace_bytes
from tests.timeanchor.test_ntp import SntpResponder

T0 = datetime(2026, 5, 1, tzinfo=UTC)
ACME = parse_tenant("acme")
NO_GRAPH = "blake3:" + "0" * 64
runner = CliRunner()


def body(seed: int) -> bytes:
    return gzip.compress(trace_bytes(SynthSpec(200, seed=seed, symbols=50, purls=5)))


class Authority:
    def __init__(self) -> None:
        private = generate_private_key_pem()
        self.signer = load_signer(private)
        self.public = public_key_pem(private)

    def anchor(self, at: datetime, counter: int) -> bytes:
        return mint_anchor(
            anchor_time=at, source="test-authority", counter=counter,
            valid_for_seconds=7 * 86_400, signer=self.signer,
        )  # fmt: skip


@pytest.fixture
def anchored(tmp_path: Path) -> Iterator[tuple[Services, FixedClock, Authority]]:
    clock = FixedClock(T0)
    settings = load_settings(
        data_dir=tmp_path, environ={}, time_mode="anchor", orphan_retry_seconds=0
    )
    services = Services.open(settings, clock=clock)
    authority = Authority()
    services.repo.add_trusted_key(
        TrustedKey(ACME, KeyPurpose.TIME, load_signer_keyid(authority), authority.public, T0)
    )
    yield services, clock, authority
    services.close()


def load_signer_keyid(authority: Authority) -> str:
    return authority.signer.keyid


def post(services: Services, seed: int):  # type: ignore[no-untyped-def]
    from stella_signals.ingest import parse_graph_hash

    return ingest_runtime(
        services.ingest_context("test"),
        RuntimeUpload(tenant=ACME, ingest_id=new_ulid(services.clock),
                      graph_hash=parse_graph_hash(NO_GRAPH), body=[body(seed)]),
    )  # fmt: skip


def test_no_anchor_blocks(anchored) -> None:  # type: ignore[no-untyped-def]
    services, _, _ = anchored
    with pytest.raises(IngestFailed) as caught:
        post(services, 1)
    assert caught.value.reason == "stale_time_anchor"


def test_budget_plus_five_seconds_accepted_plus_six_refused(anchored) -> None:  # type: ignore[no-untyped-def]
    services, clock, authority = anchored
    import_anchor(services.repo, clock, ACME, authority.anchor(T0, 1))
    clock.advance(timedelta(seconds=86_405))
    receipt = post(services, 1).receipt
    assert receipt["time"]["mode"] == "anchor"
    assert receipt["time"]["staleness_seconds"] == 86_405
    assert receipt["time"]["anchor_time"] == "2026-05-01T00:00:00Z"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(IngestFailed) as caught:
        post(services, 2)
    assert caught.value.reason == "stale_time_anchor"
    events = [e for e in services.repo.iter_events(ACME)]
    kinds = [e.event_type for e in events]
    assert kinds.count("airgap.staleness.threshold") == 1
    failed = [e for e in events if e.event_type == "runtime.ingest.failed"][-1]
    assert failed.attributes["reason"] == "stale_time_anchor"
    # a fresh anchor lifts the block; an older one is a replay
    import_anchor(services.repo, clock, ACME, authority.anchor(clock.now(), 2))
    assert post(services, 3).receipt["time"]["staleness_seconds"] == 0
    from stella_signals.timeanchor import ReplayedAnchor

    with pytest.raises(ReplayedAnchor):
        import_anchor(services.repo, clock, ACME, authority.anchor(clock.now(), 2))


def test_api_answers_503_with_retry_after(anchored) -> None:  # type: ignore[no-untyped-def]
    services, _, _ = anchored
    token = new_token()
    services.repo.add_token(token_hash=token_hash(token), tenants=frozenset({"acme"}),
                            scopes=frozenset({"signals:write", "signals:read"}), at=T0)  # fmt: skip
    with TestClient(create_app(services)) as client:
        headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "acme"}
        response = client.post(
            f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}",
            content=body(1),
            headers=headers | {"Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        problem = response.json()
        assert problem["reason"] == "stale_time_anchor" and "staleness_seconds" in problem
        status = client.get("/api/v1/time/status", headers=headers).json()
        assert status["blocked"] is True and status["mode"] == "anchor"


def test_offline_exit_codes_for_time(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    authority = Authority()
    key_file = tmp_path / "time.pub.pem"
    key_file.write_bytes(authority.public)
    from stella_signals.cli.signals import app as signals_app

    assert runner.invoke(signals_app, ["keys", "add", str(key_file), "--tenant", "acme",
                                       "--purpose", "time", *data]).exit_code == 0  # fmt: skip
    anchor = tmp_path / "anchor.json"
    anchor.write_bytes(authority.anchor(datetime.now(UTC) - timedelta(days=3), 5))
    imported = runner.invoke(
        offline_app, ["time-anchor", "import", str(anchor), "--tenant", "acme", *data]
    )
    assert imported.exit_code == 0, imported.output
    replay = runner.invoke(
        offline_app, ["time-anchor", "import", str(anchor), "--tenant", "acme", *data]
    )
    assert replay.exit_code == 4
    rogue = tmp_path / "rogue.json"
    rogue.write_bytes(Authority().anchor(datetime.now(UTC), 9))
    assert (
        runner.invoke(
            offline_app, ["time-anchor", "import", str(rogue), "--tenant", "acme", *data]
        ).exit_code
        == 4
    )
    env = {"STELLA_TIME_MODE": "anchor"}
    status = runner.invoke(
        offline_app, ["time-anchor", "status", "--tenant", "acme", *data], env=env
    )
    assert status.exit_code == 5  # three days old: past the one-day budget
    assert json.loads(status.stdout)["reason"] == "stale_time_anchor"


@pytest.mark.parametrize(
    ("offset_ms", "blocked"), [(150, False), (-150, False), (250, True), (-250, True)]
)
def test_ntp_drift(tmp_path: Path, offset_ms: float, blocked: bool) -> None:
    with SntpResponder(offset_ms=offset_ms) as server:
        settings = load_settings(
            data_dir=tmp_path, environ={}, time_mode="ntp", ntp_servers=server.spec,
            orphan_retry_seconds=0,
        )  # fmt: skip
        services = Services.open(settings)
        try:
            assert services.time.monitor is not None
            services.time.monitor.refresh()
            status = services.time.status(ACME)
            assert status.blocked is blocked, status
            assert status.drift_ms is not None and abs(abs(status.drift_ms) - abs(offset_ms)) < 50
            if blocked:
                with pytest.raises(IngestFailed) as caught:
                    post(services, 1)
                assert caught.value.reason == "clock_drift"
            else:
                assert post(services, 1).receipt["time"]["mode"] == "ntp"
        finally:
            services.close()


def test_no_ntp_answer_blocks(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={}, time_mode="ntp",
                             ntp_servers="127.0.0.1:9", orphan_retry_seconds=0)  # fmt: skip
    services = Services.open(settings)
    try:
        status = services.time.status(ACME)
        assert status.blocked and status.reason == "clock_drift"
    finally:
        services.close()


def test_a_sealed_site_mints_its_anchor_with_stella_and_imports_it(tmp_path: Path) -> None:
    """The time authority's side of runbook §3: `stella keys generate`, `stella attest
    time-anchor`, then `signals keys add --purpose time` and `signals-offline time-anchor
    import` on the sealed site; a replayed counter and an untrusted key are refused."""
    from stella_signals.cli.signals import app as signals_app
    from stella_signals.cli.stella import app as stella_app

    data = ["--data-dir", str(tmp_path / "site")]
    assert (
        runner.invoke(stella_app, ["keys", "generate", "--out", str(tmp_path / "tsa")]).exit_code
        == 0
    )
    key, public = tmp_path / "tsa" / "key.pem", tmp_path / "tsa" / "key.pub.pem"
    trusted = runner.invoke(
        signals_app, ["keys", "add", str(public), "--tenant", "acme", "--purpose", "time", *data]
    )
    assert trusted.exit_code == 0, trusted.output

    def mint(name: str, *args: str) -> Path:
        out = tmp_path / name
        minted = runner.invoke(stella_app, ["attest", "time-anchor", "--key", str(key),
                                            "--out", str(out), *args])  # fmt: skip
        assert minted.exit_code == 0, minted.output
        return out

    def imported(anchor: Path) -> int:
        args = ["time-anchor", "import", str(anchor), "--tenant", "acme", *data]
        return runner.invoke(offline_app, args).exit_code

    assert imported(mint("a1.json", "--counter", "1")) == 0
    status = runner.invoke(
        offline_app, ["time-anchor", "status", "--tenant", "acme", *data],
        env={"STELLA_TIME_MODE": "anchor"},
    )  # fmt: skip
    assert status.exit_code == 0, status.output
    assert imported(mint("a0.json", "--counter", "1")) == 4  # counter not above the last
    old = mint("a2.json", "--counter", "2", "--time", "2020-01-01T00:00:00+02:00")
    assert imported(old) == 5  # a higher counter must not rewind time (issue 14 item 12)
    assert json.loads(old.read_text())["payloadType"] == "application/vnd.stella.time-anchor+json"
    assert imported(mint("a3.json", "--counter", "3")) == 0
    usage = runner.invoke(stella_app, ["attest", "time-anchor", "--key", str(key), "--out",
                                       str(tmp_path / "x.json"), "--counter", "3",
                                       "--time", "2020-01-01T00:00:00"])  # fmt: skip
    assert usage.exit_code == 2  # a naive time is refused


def test_ntp_mode_decides_on_the_first_round_at_start(tmp_path: Path) -> None:
    """Issue 14 item 7: the first check of a freshly started process waits for the monitor's
    first round (the server answers in 0.3 s, with a 50 ms offset) instead of refusing."""
    with SntpResponder(offset_ms=50) as server:
        server.delay = 0.3
        settings = load_settings(
            data_dir=tmp_path, environ={}, time_mode="ntp", ntp_servers=server.spec,
            orphan_retry_seconds=0,
        )  # fmt: skip
        services = Services.open(settings)
        try:
            status = services.time.status(ACME)  # no refresh(): as a new process does
            assert status.blocked is False, status
            assert (
                status.drift_ms is not None and abs(status.drift_ms + 50) < 50
            )  # the server is ahead
            assert post(services, 1).receipt["time"]["mode"] == "ntp"
        finally:
            services.close()


def test_ntp_mode_first_round_without_answer_still_refuses_in_time(tmp_path: Path) -> None:
    with SntpResponder() as server:
        server.answer = False
        settings = load_settings(
            data_dir=tmp_path, environ={}, time_mode="ntp", ntp_servers=server.spec,
            orphan_retry_seconds=0,
        )  # fmt: skip
        services = Services.open(settings)
        try:
            status = services.time.status(ACME)
            assert status.blocked and status.message == "no NTP server answered recently"
            assert server.requests >= 1  # it was asked before the refusal
        finally:
            services.close()


def test_offline_status_in_ntp_mode_waits_for_the_first_answer(tmp_path: Path) -> None:
    with SntpResponder(offset_ms=50) as server:
        server.delay = 0.3
        env = {"STELLA_TIME_MODE": "ntp", "STELLA_NTP_SERVERS": server.spec}
        status = runner.invoke(
            offline_app, ["time-anchor", "status", "--tenant", "acme", "--data-dir",
                          str(tmp_path)], env=env,
        )  # fmt: skip
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["mode"] == "ntp"


# --- issue 14 item 12: anchors whose time cannot be right; one threshold event per crossing --


def _trust_time_key(data: list[str], tmp_path: Path, authority: Authority) -> None:
    from stella_signals.cli.signals import app as signals_app

    key_file = tmp_path / "time.pub.pem"
    key_file.write_bytes(authority.public)
    added = runner.invoke(signals_app, ["keys", "add", str(key_file), "--tenant", "acme",
                                        "--purpose", "time", *data])  # fmt: skip
    assert added.exit_code == 0, added.output


def _import(data: list[str], path: Path, anchor: bytes) -> Any:
    path.write_bytes(anchor)
    return runner.invoke(offline_app, ["time-anchor", "import", str(path), "--tenant", "acme",
                                       *data])  # fmt: skip


def test_an_anchor_dated_a_day_ahead_is_refused_at_import(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "site")]
    authority = Authority()
    _trust_time_key(data, tmp_path, authority)
    ahead = _import(data, tmp_path / "ahead.json",
                    authority.anchor(datetime.now(UTC) + timedelta(days=1), 1))  # fmt: skip
    assert ahead.exit_code == 5, ahead.output
    assert "anchor_in_future" in ahead.output
    # nothing was kept: a correct anchor with the same counter is accepted and unblocks
    now = _import(data, tmp_path / "now.json", authority.anchor(datetime.now(UTC), 1))
    assert now.exit_code == 0, now.output
    status = runner.invoke(offline_app, ["time-anchor", "status", "--tenant", "acme", *data],
                           env={"STELLA_TIME_MODE": "anchor"})  # fmt: skip
    assert status.exit_code == 0, status.output


def test_a_higher_counter_with_an_older_time_is_refused(anchored) -> None:  # type: ignore[no-untyped-def]
    from stella_signals.timeanchor import AnchorTimeRefused

    services, clock, authority = anchored
    import_anchor(services.repo, clock, ACME, authority.anchor(T0 - timedelta(hours=1), 1))
    with pytest.raises(AnchorTimeRefused) as caught:
        import_anchor(services.repo, clock, ACME, authority.anchor(T0 - timedelta(hours=2), 2))
    assert caught.value.reason == "anchor_time_regressed"
    assert services.repo.latest_time_anchor(ACME) is not None
    assert services.repo.latest_time_anchor(ACME)[0] == 1  # type: ignore[index]
    # the same time, or a later one within the skew of the clock, is fine
    import_anchor(services.repo, clock, ACME, authority.anchor(T0 - timedelta(hours=1), 2))
    import_anchor(services.repo, clock, ACME, authority.anchor(T0 + timedelta(seconds=5), 3))
    with pytest.raises(AnchorTimeRefused) as ahead:
        import_anchor(services.repo, clock, ACME, authority.anchor(T0 + timedelta(seconds=6), 4))
    assert ahead.value.reason == "anchor_in_future"


def test_the_threshold_event_is_written_once_per_crossing(tmp_path: Path) -> None:
    """Two stale anchors, read-only status calls and several process starts: exactly one
    airgap.staleness.threshold per anchor (today: one per process start and status call)."""
    authority = Authority()
    clock = FixedClock(T0)

    def process() -> contextlib.closing[Services]:  # one process start
        settings = load_settings(
            data_dir=tmp_path, environ={}, time_mode="anchor", orphan_retry_seconds=0
        )
        return contextlib.closing(Services.open(settings, clock=clock))

    def thresholds() -> list[str]:
        with process() as services:
            events = services.repo.iter_events(ACME)
            return [e.attributes["anchor_time"] for e in events
                    if e.event_type == "airgap.staleness.threshold"]  # fmt: skip

    def attempt_ingest() -> None:
        with process() as services:
            with pytest.raises(IngestFailed):
                post(services, 1)
            with pytest.raises(IngestFailed):
                post(services, 2)

    def read_status() -> None:
        with process() as services:
            assert services.time.status(ACME, record=False).blocked
            with TestClient(create_app(services)) as client:
                token = new_token()
                services.repo.add_token(token_hash=token_hash(token), tenants=frozenset({"acme"}),
                                        scopes=frozenset({"signals:read"}), at=T0)  # fmt: skip
                headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "acme"}
                assert client.get("/api/v1/time/status", headers=headers).json()["blocked"]

    with process() as services:
        services.repo.add_trusted_key(
            TrustedKey(ACME, KeyPurpose.TIME, authority.signer.keyid, authority.public, T0)
        )
        import_anchor(services.repo, clock, ACME, authority.anchor(T0 - timedelta(days=3), 1))
    read_status()
    read_status()
    assert thresholds() == []  # read-only checks write nothing
    attempt_ingest()
    attempt_ingest()
    assert thresholds() == ["2026-04-28T00:00:00Z"]
    with process() as services:
        import_anchor(services.repo, clock, ACME, authority.anchor(T0 - timedelta(days=2), 2))
    read_status()
    attempt_ingest()
    attempt_ingest()
    assert thresholds() == ["2026-04-28T00:00:00Z", "2026-04-29T00:00:00Z"]
