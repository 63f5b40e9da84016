"""Signed time anchors and the anchor-mode time status (SPEC §11).

Anchors are minted by a test time authority holding a real Ed25519 key; `anchor_payload`
lets a test change one member and re-sign, so every refusal below is for exactly one defect.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from stella_signals.attest import (
    CheckReason,
    PublicKey,
    Signer,
    generate_private_key_pem,
    load_signer,
    sign_envelope,
)
from stella_signals.canonical import canonical_json
from stella_signals.clock import FixedClock
from stella_signals.errors import Unavailable, VerificationFailed
from stella_signals.timeanchor import (
    ANCHOR_FORMAT,
    ANCHOR_PAYLOAD_TYPE,
    DEFAULT_BUDGET_SECONDS,
    MAX_ANCHOR_BYTES,
    RFC3161_FORMAT,
    AnchorInvalid,
    ReplayedAnchor,
    TimeMode,
    TimeStatus,
    TimeUntrusted,
    VerifiedAnchor,
    anchor_status,
    budget_crossed,
    check_anchor,
    mint_anchor,
    verify_anchor,
)

ANCHOR_TIME = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
TOKEN_DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def authority() -> Signer:
    """The test time authority's key."""
    return load_signer(generate_private_key_pem("ed25519"))


@pytest.fixture(scope="module")
def rogue() -> Signer:
    """A well-formed key nobody trusts."""
    return load_signer(generate_private_key_pem("ed25519"))


@pytest.fixture(scope="module")
def trusted(authority: Signer) -> list[PublicKey]:
    return [authority.public_key]


def mint(authority: Signer, **changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "anchor_time": ANCHOR_TIME,
        "source": "test-time-authority",
        "counter": 7,
        "valid_for_seconds": DEFAULT_BUDGET_SECONDS,
        "signer": authority,
    }
    arguments.update(changes)
    return mint_anchor(**arguments)


def anchor_payload(**changes: Any) -> dict[str, Any]:
    """A valid payload document with ``changes`` applied (``None``-valued keys are kept)."""
    document: dict[str, Any] = {
        "anchor_time": "2025-03-01T12:00:00Z",
        "source": "test-time-authority",
        "format": ANCHOR_FORMAT,
        "token_digest": None,
        "counter": 7,
        "valid_for_seconds": DEFAULT_BUDGET_SECONDS,
    }
    document.update(changes)
    return document


def sign_raw(payload: bytes, signer: Signer, *, payload_type: str = ANCHOR_PAYLOAD_TYPE) -> bytes:
    return sign_envelope(payload, payload_type, [signer]).to_json()


def verified(authority: Signer, trusted: list[PublicKey], **changes: Any) -> VerifiedAnchor:
    return verify_anchor(mint(authority, **changes), trusted=trusted, last_counter=None)


# --- minting and checking -------------------------------------------------------------------


def test_minted_anchor_verifies(authority: Signer, trusted: list[PublicKey]) -> None:
    data = mint(authority, token_digest=TOKEN_DIGEST, format=RFC3161_FORMAT)
    anchor = verify_anchor(data, trusted=trusted, last_counter=6)

    assert anchor.anchor_time == ANCHOR_TIME
    assert anchor.counter == 7
    assert anchor.source == "test-time-authority"
    assert anchor.valid_for_seconds == DEFAULT_BUDGET_SECONDS
    assert anchor.claims.format == RFC3161_FORMAT
    assert anchor.claims.token_digest == TOKEN_DIGEST
    assert anchor.keyids == (authority.keyid,)
    assert anchor.envelope == data
    assert anchor.report.ok and anchor.report.claims_verified


def test_payload_is_canonical_json_with_exactly_the_six_members(authority: Signer) -> None:
    envelope = json.loads(mint(authority))
    assert envelope["payloadType"] == ANCHOR_PAYLOAD_TYPE
    payload = base64.b64decode(envelope["payload"])
    assert payload == canonical_json(anchor_payload())


def test_report_is_plain_json(authority: Signer, trusted: list[PublicKey]) -> None:
    report = check_anchor(mint(authority), trusted=trusted, last_counter=None)
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is True
    assert data["claims"] == anchor_payload()
    assert data["envelope"]["keyids"] == [authority.keyid]
    assert data["anchor_sha256"].startswith("sha256:")


def test_microseconds_survive(authority: Signer, trusted: list[PublicKey]) -> None:
    moment = ANCHOR_TIME.replace(microsecond=250_000)
    assert verified(authority, trusted, anchor_time=moment).anchor_time == moment


def test_anchor_time_is_written_in_utc(authority: Signer, trusted: list[PublicKey]) -> None:
    plus_two = ANCHOR_TIME.astimezone(timezone(timedelta(hours=2)))
    anchor = verified(authority, trusted, anchor_time=plus_two)
    assert anchor.report.to_dict()["claims"]["anchor_time"] == "2025-03-01T12:00:00Z"


def test_verified_anchor_cannot_be_forged(authority: Signer, trusted: list[PublicKey]) -> None:
    anchor = verified(authority, trusted)
    with pytest.raises(TypeError):
        VerifiedAnchor(
            anchor.claims, anchor.envelope, anchor.anchor_sha256, (), anchor.report, object()
        )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"counter": 0}, "counter"),
        ({"valid_for_seconds": 0}, "valid_for_seconds"),
        ({"source": ""}, "source"),
        ({"format": "RFC 3161"}, "format"),
        ({"format": RFC3161_FORMAT}, "token_digest"),
        ({"token_digest": "sha256:xyz"}, "token_digest"),
        ({"anchor_time": datetime(2025, 3, 1, 12)}, "timezone-aware"),
    ],
)
def test_mint_refuses_what_check_would_refuse(
    authority: Signer, changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        mint(authority, **changes)


# --- signatures -----------------------------------------------------------------------------


def test_bad_signature(authority: Signer, trusted: list[PublicKey]) -> None:
    envelope = json.loads(mint(authority))
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[0] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    report = check_anchor(json.dumps(envelope).encode(), trusted=trusted, last_counter=None)

    assert not report.ok and report.reason == "anchor_invalid"
    assert report.envelope is not None
    assert report.envelope.signatures[0].reason is CheckReason.BAD_SIGNATURE
    assert report.claims is not None and not report.claims_verified


def test_payload_changed_after_signing(authority: Signer, trusted: list[PublicKey]) -> None:
    envelope = json.loads(mint(authority))
    later = canonical_json(anchor_payload(anchor_time="2025-03-09T12:00:00Z"))
    envelope["payload"] = base64.b64encode(later).decode()
    report = check_anchor(json.dumps(envelope).encode(), trusted=trusted, last_counter=None)
    assert report.reason == "anchor_invalid"
    assert "signature" in report.message


def test_untrusted_key(rogue: Signer, trusted: list[PublicKey]) -> None:
    report = check_anchor(mint(rogue), trusted=trusted, last_counter=None)
    assert report.reason == "anchor_invalid"
    assert report.envelope is not None
    assert report.envelope.signatures[0].reason is CheckReason.UNKNOWN_KEY
    with pytest.raises(AnchorInvalid) as caught:
        verify_anchor(mint(rogue), trusted=trusted, last_counter=None)
    assert caught.value.reason == "anchor_invalid"
    assert isinstance(caught.value, VerificationFailed)
    assert caught.value.report is not None and caught.value.report.envelope is not None


def test_no_trusted_keys_trusts_nothing(authority: Signer) -> None:
    assert check_anchor(mint(authority), trusted=[], last_counter=None).reason == "anchor_invalid"


def test_keyid_is_only_a_hint(authority: Signer, rogue: Signer, trusted: list[PublicKey]) -> None:
    envelope = json.loads(mint(authority))
    envelope["signatures"][0]["keyid"] = rogue.keyid  # names the wrong key: still verifies
    assert check_anchor(json.dumps(envelope).encode(), trusted=trusted, last_counter=None).ok

    forged = json.loads(mint(rogue))
    forged["signatures"][0]["keyid"] = authority.keyid  # names the trusted key: still refused
    report = check_anchor(json.dumps(forged).encode(), trusted=trusted, last_counter=None)
    assert report.envelope is not None
    assert report.envelope.signatures[0].reason is CheckReason.BAD_SIGNATURE


def test_wrong_payload_type(authority: Signer, trusted: list[PublicKey]) -> None:
    data = sign_raw(canonical_json(anchor_payload()), authority, payload_type="application/json")
    report = check_anchor(data, trusted=trusted, last_counter=None)
    assert report.reason == "anchor_invalid"
    assert report.envelope is not None
    assert report.envelope.reason is CheckReason.PAYLOAD_TYPE_MISMATCH


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"payload":"","payloadType":"x","signatures":[]}', b"\xff"],
    ids=["empty", "not-json", "array", "no-signatures", "bad-utf8"],
)
def test_not_an_envelope(data: bytes, trusted: list[PublicKey]) -> None:
    report = check_anchor(data, trusted=trusted, last_counter=None)
    assert report.reason == "anchor_invalid"
    assert report.envelope is None and report.envelope_error
    with pytest.raises(AnchorInvalid):
        verify_anchor(data, trusted=trusted, last_counter=None)


def test_oversized_anchor_is_refused_unparsed(trusted: list[PublicKey]) -> None:
    report = check_anchor(b" " * (MAX_ANCHOR_BYTES + 1), trusted=trusted, last_counter=None)
    assert report.reason == "anchor_invalid"
    assert "at most" in report.message


# --- counters -------------------------------------------------------------------------------


@pytest.mark.parametrize("last_counter", [None, 0, 6])
def test_counter_above_last_is_accepted(
    authority: Signer, trusted: list[PublicKey], last_counter: int | None
) -> None:
    assert check_anchor(mint(authority, counter=7), trusted=trusted, last_counter=last_counter).ok


@pytest.mark.parametrize("last_counter", [7, 8, 1000])
def test_equal_or_lower_counter_is_a_replay(
    authority: Signer, trusted: list[PublicKey], last_counter: int
) -> None:
    data = mint(authority, counter=7)
    report = check_anchor(data, trusted=trusted, last_counter=last_counter)
    assert not report.ok and report.reason == "replayed_anchor"
    assert report.claims_verified  # a replay is validly signed: only its counter is old
    with pytest.raises(ReplayedAnchor) as caught:
        verify_anchor(data, trusted=trusted, last_counter=last_counter)
    assert caught.value.reason == "replayed_anchor"
    assert isinstance(caught.value, AnchorInvalid)


def test_bad_signature_outranks_replay(rogue: Signer, trusted: list[PublicKey]) -> None:
    report = check_anchor(mint(rogue, counter=1), trusted=trusted, last_counter=5)
    assert report.reason == "anchor_invalid"


@pytest.mark.parametrize("last_counter", [-1, True, 1.5])
def test_last_counter_must_be_a_counter(
    authority: Signer, trusted: list[PublicKey], last_counter: Any
) -> None:
    with pytest.raises(ValueError, match="last_counter"):
        check_anchor(mint(authority), trusted=trusted, last_counter=last_counter)


# --- what an authority may write differently from us -------------------------------------

LENIENT_PAYLOADS: dict[str, Callable[[], bytes]] = {
    "spaces": lambda: json.dumps(anchor_payload()).encode(),
    "member-order": lambda: json.dumps(dict(reversed(anchor_payload().items()))).encode(),
    "time-offset": lambda: canonical_json(anchor_payload(anchor_time="2025-03-01T13:00:00+01:00")),
    "time-utc-offset": lambda: canonical_json(
        anchor_payload(anchor_time="2025-03-01T12:00:00+00:00")
    ),
}


@pytest.mark.parametrize("build", LENIENT_PAYLOADS.values(), ids=LENIENT_PAYLOADS.keys())
def test_an_authority_need_not_write_canonical_json_or_utc(
    build: Callable[[], bytes], authority: Signer, trusted: list[PublicKey]
) -> None:
    data = sign_raw(build(), authority, payload_type=ANCHOR_PAYLOAD_TYPE)
    anchor = verify_anchor(data, trusted=trusted, last_counter=None)
    assert anchor.claims.anchor_time == ANCHOR_TIME
    assert anchor.claims.anchor_time.utcoffset() == timedelta(0)


# --- malformed payloads, each signed by the trusted authority --------------------------------


def _doc(**changes: Any) -> Callable[[], bytes]:
    return lambda: canonical_json(anchor_payload(**changes))


def _without(name: str) -> Callable[[], bytes]:
    def build() -> bytes:
        document = anchor_payload()
        del document[name]
        return canonical_json(document)

    return build


def _raw(text: bytes) -> Callable[[], bytes]:
    return lambda: text


MALFORMED_PAYLOADS: dict[str, Callable[[], bytes]] = {
    "not-json": _raw(b"anchor"),
    "bad-utf8": _raw(b'{"source":"\xff"}'),
    "array": _raw(b"[]"),
    "null": _raw(b"null"),
    "duplicate-counter": _raw(canonical_json(anchor_payload())[:-1] + b',"counter":9}'),
    "nan": _raw(canonical_json(anchor_payload()).replace(b'"counter":7', b'"counter":NaN')),
    "extra-member": _doc(nonce="x"),
    **{f"missing-{name}": _without(name) for name in anchor_payload()},
    "time-number": _doc(anchor_time=1740830400),
    "time-naive": _doc(anchor_time="2025-03-01T12:00:00"),
    "time-date-only": _doc(anchor_time="2025-03-01"),
    "time-lowercase": _doc(anchor_time="2025-03-01t12:00:00z"),
    "time-no-such-day": _doc(anchor_time="2025-02-30T12:00:00Z"),
    "time-nanoseconds": _doc(anchor_time="2025-03-01T12:00:00.123456789Z"),
    "time-before-year-1-in-utc": _doc(anchor_time="0001-01-01T00:00:00+01:00"),
    "source-empty": _doc(source=""),
    "source-number": _doc(source=7),
    "source-too-long": _doc(source="s" * 257),
    "source-control-char": _doc(source="ntp\n"),
    "format-null": _doc(format=None),
    "format-uppercase": _doc(format="RFC3161"),
    "format-empty": _doc(format=""),
    "digest-sha512": _doc(token_digest="sha512:" + "ab" * 64),
    "digest-uppercase": _doc(token_digest="sha256:" + "AB" * 32),
    "digest-short": _doc(token_digest="sha256:" + "ab" * 2),
    "digest-bare-hex": _doc(token_digest="ab" * 32),
    "rfc3161-without-digest": _doc(format=RFC3161_FORMAT),
    "counter-zero": _doc(counter=0),
    "counter-negative": _doc(counter=-1),
    "counter-bool": _doc(counter=True),
    "counter-float": _doc(counter=7.5),
    "counter-string": _doc(counter="7"),
    "counter-past-2^53": _raw(
        canonical_json(anchor_payload()).replace(b'"counter":7', b'"counter":9007199254740992')
    ),
    "counter-integral-float": _raw(
        canonical_json(anchor_payload()).replace(b'"counter":7', b'"counter":7.0')
    ),
    "valid-for-zero": _doc(valid_for_seconds=0),
    "valid-for-negative": _doc(valid_for_seconds=-60),
    "valid-for-null": _doc(valid_for_seconds=None),
}


@pytest.mark.parametrize("build", MALFORMED_PAYLOADS.values(), ids=MALFORMED_PAYLOADS.keys())
def test_malformed_payload(
    build: Callable[[], bytes], authority: Signer, trusted: list[PublicKey]
) -> None:
    data = sign_raw(build(), authority)
    report = check_anchor(data, trusted=trusted, last_counter=None)

    assert report.envelope is not None and report.envelope.ok  # the signature is fine
    assert not report.ok and report.reason == "anchor_invalid"
    assert report.claims is None and report.payload_error
    with pytest.raises(AnchorInvalid) as caught:
        verify_anchor(data, trusted=trusted, last_counter=None)
    assert caught.value.reason == "anchor_invalid"


def test_rfc3161_with_digest_and_fractional_time_are_fine(
    authority: Signer, trusted: list[PublicKey]
) -> None:
    payload = canonical_json(
        anchor_payload(
            anchor_time="2025-03-01T12:00:00.5Z", format=RFC3161_FORMAT, token_digest=TOKEN_DIGEST
        )
    )
    report = check_anchor(sign_raw(payload, authority), trusted=trusted, last_counter=None)
    assert report.ok, report.message
    assert report.claims is not None
    assert report.claims.anchor_time == ANCHOR_TIME.replace(microsecond=500_000)


# --- staleness ------------------------------------------------------------------------------


def test_budget_plus_skew_is_accepted_and_one_second_more_refused(
    authority: Signer, trusted: list[PublicKey]
) -> None:
    anchor = verified(authority, trusted)
    clock = FixedClock(ANCHOR_TIME + timedelta(seconds=DEFAULT_BUDGET_SECONDS + 5))

    accepted = anchor_status(anchor, now=clock.now())
    assert accepted.mode is TimeMode.ANCHOR
    assert accepted.trusted and not accepted.blocked and accepted.reason is None
    assert accepted.staleness_seconds == DEFAULT_BUDGET_SECONDS + 5
    assert accepted.retry_after_seconds is None
    accepted.raise_for_blocked()

    clock.advance(timedelta(seconds=1))
    refused = anchor_status(anchor, now=clock.now())
    assert refused.blocked and not refused.trusted
    assert refused.reason == "stale_time_anchor"
    assert refused.staleness_seconds == DEFAULT_BUDGET_SECONDS + 6
    assert refused.anchor_time == ANCHOR_TIME
    assert refused.source == "test-time-authority"
    with pytest.raises(TimeUntrusted) as caught:
        refused.raise_for_blocked()
    assert isinstance(caught.value, Unavailable)
    assert caught.value.reason == "stale_time_anchor"
    assert caught.value.retry_after_seconds == refused.retry_after_seconds == 60
    assert caught.value.status is refused


def test_fresh_anchor(authority: Signer, trusted: list[PublicKey]) -> None:
    status = anchor_status(verified(authority, trusted), now=ANCHOR_TIME + timedelta(hours=1))
    assert status.trusted and status.staleness_seconds == 3600 and status.drift_ms is None


def test_custom_budget(authority: Signer, trusted: list[PublicKey]) -> None:
    anchor = verified(authority, trusted)
    now = ANCHOR_TIME + timedelta(seconds=3606)
    assert not anchor_status(anchor, now=now, budget_seconds=3601).blocked
    assert anchor_status(anchor, now=now, budget_seconds=3600).blocked
    assert anchor_status(anchor, now=now, budget_seconds=3600, skew_seconds=6).trusted


def test_anchor_validity_caps_the_budget(authority: Signer, trusted: list[PublicKey]) -> None:
    anchor = verified(authority, trusted, valid_for_seconds=600)
    assert anchor_status(anchor, now=ANCHOR_TIME + timedelta(seconds=605)).trusted
    status = anchor_status(anchor, now=ANCHOR_TIME + timedelta(seconds=606))
    assert status.reason == "stale_time_anchor"


def test_no_anchor_blocks() -> None:
    status = anchor_status(None, now=ANCHOR_TIME)
    assert status.blocked and status.reason == "stale_time_anchor"
    assert status.staleness_seconds is None and status.anchor_time is None


@pytest.mark.parametrize("ahead", [1, 5])
def test_anchor_slightly_ahead_counts_as_fresh(
    authority: Signer, trusted: list[PublicKey], ahead: int
) -> None:
    status = anchor_status(verified(authority, trusted), now=ANCHOR_TIME - timedelta(seconds=ahead))
    assert status.trusted and status.staleness_seconds == 0 and status.drift_ms is None


def test_anchor_far_ahead_means_the_local_clock_is_behind(
    authority: Signer, trusted: list[PublicKey]
) -> None:
    status = anchor_status(verified(authority, trusted), now=ANCHOR_TIME - timedelta(seconds=6))
    assert status.blocked and status.reason == "clock_drift"
    assert status.drift_ms == -6000
    assert status.staleness_seconds == 0


def test_status_is_plain_json(authority: Signer, trusted: list[PublicKey]) -> None:
    now = ANCHOR_TIME + timedelta(days=2)
    data = anchor_status(verified(authority, trusted), now=now).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "mode": "anchor",
        "trusted": False,
        "source": "test-time-authority",
        "checked_at": "2025-03-03T12:00:00Z",
        "anchor_time": "2025-03-01T12:00:00Z",
        "staleness_seconds": 172800.0,
        "drift_ms": None,
        "blocked": True,
        "reason": "stale_time_anchor",
        "retry_after_seconds": 60,
        "message": data["message"],
    }


@pytest.mark.parametrize(
    "arguments",
    [
        {"now": datetime(2025, 3, 1)},
        {"now": ANCHOR_TIME, "budget_seconds": 0},
        {"now": ANCHOR_TIME, "skew_seconds": -1},
        {"now": ANCHOR_TIME, "retry_after_seconds": 0},
    ],
)
def test_anchor_status_rejects_bad_arguments(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        anchor_status(None, **arguments)


def test_time_untrusted_needs_a_blocked_status(authority: Signer, trusted: list[PublicKey]) -> None:
    with pytest.raises(ValueError):
        TimeUntrusted(anchor_status(verified(authority, trusted), now=ANCHOR_TIME))


# --- crossing the budget (airgap.staleness.threshold) ----------------------------------------


def test_budget_crossed_once(authority: Signer, trusted: list[PublicKey]) -> None:
    anchor = verified(authority, trusted)
    clock = FixedClock(ANCHOR_TIME)
    emitted: list[TimeStatus] = []
    previous: TimeStatus | None = None
    for _ in range(6):  # 0 h, 12 h ... 60 h: the budget is crossed between 24 h and 36 h
        current = anchor_status(anchor, now=clock.now())
        if budget_crossed(previous, current):
            emitted.append(current)
        previous = current
        clock.advance(timedelta(hours=12))
    assert [status.staleness_seconds for status in emitted] == [36 * 3600]

    newer = verify_anchor(
        mint(authority, counter=8, anchor_time=clock.now()),
        trusted=trusted,
        last_counter=anchor.counter,
    )
    fresh = anchor_status(newer, now=clock.now())
    assert not budget_crossed(previous, fresh)
    stale_again = anchor_status(newer, now=clock.now() + timedelta(days=2))
    assert budget_crossed(fresh, stale_again)


def test_budget_crossed_table(authority: Signer, trusted: list[PublicKey]) -> None:
    anchor = verified(authority, trusted)
    fresh = anchor_status(anchor, now=ANCHOR_TIME)
    stale = anchor_status(anchor, now=ANCHOR_TIME + timedelta(days=2))
    missing = anchor_status(None, now=ANCHOR_TIME)
    behind = anchor_status(anchor, now=ANCHOR_TIME - timedelta(minutes=1))

    assert budget_crossed(None, stale)
    assert budget_crossed(fresh, stale)
    assert budget_crossed(missing, stale)
    assert budget_crossed(behind, stale)
    assert not budget_crossed(stale, stale)
    assert not budget_crossed(None, fresh)
    assert not budget_crossed(stale, fresh)
    assert not budget_crossed(None, missing)  # no anchor at all is not a crossed budget
    assert not budget_crossed(fresh, behind)
