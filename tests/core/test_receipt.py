"""The receipt model (SPEC §8): wire form, canonical bytes, signature, versions, events."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from stella_signals.attest import (
    RECEIPT_PAYLOAD_TYPE,
    generate_private_key_pem,
    load_signer,
    parse_envelope,
    verify_envelope,
)
from stella_signals.canonical import canonical_json
from stella_signals.receipt import (
    RECEIPT_SCHEMA,
    Receipt,
    ReceiptCounts,
    ReceiptTime,
    with_envelope,
)
from stella_signals.timeanchor import system_status

SHA = "ab" * 32
RECEIPT = Receipt(
    ingest_id="01J0000000000000000000000A",
    tenant="acme",
    status="ingested",
    received_at=datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC),
    content_sha256=SHA,
    graph_hash="blake3:" + "cd" * 32,
    dsse_digest=None,
    counts=ReceiptCounts(
        lines=3,
        records=2,
        unique_symbols=2,
        mapped_symbols=1,
        unmapped_symbols=1,
        edges_confirmed=0,
    ),
    time=ReceiptTime.of(system_status(datetime(2026, 3, 1, 12, tzinfo=UTC))),
    timeline_event_id="01J0000000000000000000000B",
)


def test_payload_has_exactly_the_spec_fields() -> None:
    payload = RECEIPT.to_payload()
    assert list(payload) == [
        "schema", "ingest_id", "tenant", "status", "duplicate", "received_at",
        "content_sha256", "cas_uri", "graph_hash", "dsse_digest", "counts", "time",
        "timeline_event_id",
    ]  # fmt: skip
    assert payload["schema"] == RECEIPT_SCHEMA
    assert payload["duplicate"] is False and RECEIPT.to_payload(duplicate=True)["duplicate"]
    assert payload["received_at"] == "2026-03-01T12:00:00.250000Z"
    assert payload["cas_uri"] == f"cas://reachability/runtime/{SHA}"
    assert set(payload["counts"]) == {"lines", "records", "unique_symbols", "mapped_symbols",
                                      "unmapped_symbols", "edges_confirmed"}  # fmt: skip
    assert payload["time"] == {
        "mode": "system", "anchor_time": None, "staleness_seconds": None, "drift_ms": None
    }  # fmt: skip


def test_payload_reads_back_to_the_same_receipt() -> None:
    assert Receipt.from_payload(RECEIPT.to_payload()) == RECEIPT
    later = RECEIPT.superseding("ef" * 32, dsse_digest="sha256:" + "01" * 32)
    assert Receipt.from_payload(json.loads(json.dumps(later.to_payload()))) == later


def test_from_payload_refuses_another_schema() -> None:
    with pytest.raises(ValueError, match="not an ingest receipt"):
        Receipt.from_payload({**RECEIPT.to_payload(), "schema": "other/v1"})


def test_signed_envelope_carries_the_canonical_bytes_and_verifies() -> None:
    signer = load_signer(generate_private_key_pem())
    envelope = parse_envelope(RECEIPT.sign([signer]))
    assert envelope.payload == RECEIPT.canonical_bytes() == canonical_json(RECEIPT.to_payload())
    assert envelope.pae() == RECEIPT.signing_input()
    verified = verify_envelope(
        envelope, trusted=[signer.public_key], payload_type=RECEIPT_PAYLOAD_TYPE
    )
    assert signer.keyid in verified.keyids


def test_a_later_version_names_the_envelope_it_replaces() -> None:
    assert "version" not in RECEIPT.to_payload()
    second = RECEIPT.superseding("ef" * 32)
    third = second.superseding("12" * 32, status="expired")
    assert (second.version, second.supersedes) == (2, "sha256:" + "ef" * 32)
    assert third.to_payload()["version"] == 3 and third.status == "expired"
    assert third.to_payload()["supersedes"] == "sha256:" + "12" * 32


def test_event_attributes_say_what_the_receipt_says_with_the_events_time() -> None:
    anchored = replace(RECEIPT.time, staleness_seconds=5.0, drift_ms=1.5)
    assert RECEIPT.event_attributes() == {
        "ingest_id": RECEIPT.ingest_id,
        "cas_uri": RECEIPT.cas_uri,
        "content_sha256": SHA,
        "graph_hash": RECEIPT.graph_hash,
        "dsse_digest": None,
        "staleness_seconds": None,
        "drift_ms": None,
    }
    assert RECEIPT.event_attributes(anchored)["staleness_seconds"] == 5.0


def test_with_envelope_embeds_the_signed_receipt() -> None:
    signer = load_signer(generate_private_key_pem())
    envelope = RECEIPT.sign([signer])
    body = with_envelope(RECEIPT.to_payload(), envelope)
    assert body["receipt_dsse"] == json.loads(envelope)
    assert "receipt_dsse" not in with_envelope(RECEIPT.to_payload(), None)
