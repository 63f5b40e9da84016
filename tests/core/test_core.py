"""Core value types: digests, CAS URIs, tenants, clock, error tree."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from stella_signals.cas import CasUri, Namespace, parse_cas_uri
from stella_signals.clock import FixedClock, SystemClock, format_utc
from stella_signals.digests import Algorithm, Digest, blake3_hex, parse_digest, sha256_hex
from stella_signals.errors import (
    HashMismatch,
    InvalidCasUri,
    InvalidDigest,
    InvalidInput,
    InvalidTenant,
    StellaError,
    VerificationFailed,
)
from stella_signals.tenancy import parse_tenant

HEX = "a" * 64


def test_digest_forms() -> None:
    assert parse_digest(HEX) == Digest(Algorithm.SHA256, HEX)
    assert str(parse_digest("blake3:" + HEX)) == "blake3:" + HEX
    assert parse_digest(HEX, default=Algorithm.BLAKE3).algorithm is Algorithm.BLAKE3
    for bad in ["", "A" * 64, "a" * 63, "md5:" + HEX, "sha256:" + "g" * 64, "sha256:"]:
        with pytest.raises(InvalidDigest):
            parse_digest(bad)


def test_hash_helpers() -> None:
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert blake3_hex(b"") == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def test_cas_uris_both_ways() -> None:
    uri = parse_cas_uri(f"cas://reachability/runtime/{HEX}")
    assert uri == CasUri.of(Namespace.RUNTIME, HEX)
    assert str(uri) == f"cas://reachability/runtime/{HEX}"
    graph = parse_cas_uri(f"cas://reachability/graphs/{HEX}")
    assert graph.digest.algorithm is Algorithm.BLAKE3
    assert str(parse_cas_uri(f"cas://evidence/receipts/{HEX}")).startswith("cas://evidence/")


@pytest.mark.parametrize(
    "bad",
    [
        f"s3://reachability/runtime/{HEX}",
        f"cas://reachability/unknown/{HEX}",
        "cas://reachability/runtime/abc",
        "cas://nothing",
        f"cas://reachability/runtime/{HEX.upper()}",
        f"cas://../runtime/{HEX}",
    ],
)
def test_bad_cas_uris(bad: str) -> None:
    with pytest.raises(InvalidCasUri):
        parse_cas_uri(bad)


@pytest.mark.parametrize("good", ["acme", "a", "0-team", "a" * 63])
def test_good_tenants(good: str) -> None:
    assert parse_tenant(good) == good


@pytest.mark.parametrize(
    "bad", ["", "Acme", "-acme", "a" * 64, "acme_corp", "a.b", "../x", "acme ", "ünï"]
)
def test_bad_tenants_are_rejected_never_normalised(bad: str) -> None:
    with pytest.raises(InvalidTenant):
        parse_tenant(bad)


def test_clocks() -> None:
    clock = FixedClock(datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    clock.advance(timedelta(seconds=5))
    assert format_utc(clock.now()) == "2026-01-01T00:00:05Z"
    assert SystemClock().now().tzinfo is UTC
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 1, 1))


def test_error_tree_is_split_by_fault_with_reasons() -> None:
    assert issubclass(HashMismatch, VerificationFailed)
    assert issubclass(InvalidTenant, InvalidInput)
    assert issubclass(InvalidInput, StellaError)
    assert HashMismatch("x").reason == "hash_mismatch"
    assert InvalidInput("x").reason == "schema_invalid"
    assert InvalidInput("x", reason="other").reason == "other"
