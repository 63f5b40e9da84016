"""VEX documents signed as DSSE by the service key, checked offline against one pinned key."""

from __future__ import annotations

import base64
import json

import pytest

from stella_signals.attest import (
    RECEIPT_PAYLOAD_TYPE,
    InvalidEnvelope,
    SignatureInvalid,
    Signer,
    generate_private_key_pem,
    load_signer,
    pae,
    parse_envelope,
    sign_envelope,
)
from stella_signals.digests import sha256_hex
from stella_signals.errors import HashMismatch
from stella_signals.reach import State
from stella_signals.vex import (
    CYCLONEDX_PAYLOAD_TYPE,
    OPENVEX_PAYLOAD_TYPE,
    InvalidVex,
    VexFormat,
    render_cyclonedx,
    render_openvex,
    render_vex,
    sign_vex,
    verify_vex,
)
from tests.vex._evaluations import AUTHOR, PRODUCT, WHEN, evaluation, one_of_each, verdict


@pytest.fixture(scope="module")
def service() -> Signer:
    return load_signer(generate_private_key_pem())


@pytest.fixture(scope="module")
def stranger() -> Signer:
    return load_signer(generate_private_key_pem("ecdsa-p256"))


@pytest.fixture(scope="module")
def openvex() -> bytes:
    return render_openvex(one_of_each(), product=PRODUCT, author=AUTHOR, timestamp=WHEN)


def tamper(envelope: bytes, payload: bytes) -> bytes:
    """The same envelope and signature over other payload bytes."""
    document = json.loads(envelope)
    document["payload"] = base64.b64encode(payload).decode()
    return json.dumps(document).encode()


def test_the_envelope_carries_the_document_bytes_under_its_media_type(
    service: Signer, openvex: bytes
) -> None:
    envelope = parse_envelope(sign_vex(openvex, VexFormat.OPENVEX, service))
    assert envelope.payload == openvex
    assert envelope.payload_type == OPENVEX_PAYLOAD_TYPE == "application/openvex+json"
    assert envelope.signatures[0].keyid == service.keyid
    assert service.public_key.verify(envelope.signatures[0].sig, pae(OPENVEX_PAYLOAD_TYPE, openvex))


@pytest.mark.parametrize("fmt", list(VexFormat))
def test_the_pinned_key_verifies_both_formats(service: Signer, fmt: VexFormat) -> None:
    ev = evaluation(verdict(State.CU))
    document = (
        render_openvex(ev, product=PRODUCT, author=AUTHOR, timestamp=WHEN)
        if fmt is VexFormat.OPENVEX
        else render_cyclonedx(ev, product=PRODUCT, timestamp=WHEN)
    )
    verified = verify_vex(sign_vex(document, fmt, service), key=service.public_key)
    assert verified.format is fmt
    assert verified.document == document
    assert verified.digest == "sha256:" + sha256_hex(document)
    assert verified.keyids == (service.keyid,)
    assert (
        verify_vex(
            sign_vex(document, fmt, service), key=service.public_key, document=document
        ).document
        == document
    )
    assert fmt.payload_type in (OPENVEX_PAYLOAD_TYPE, CYCLONEDX_PAYLOAD_TYPE)


@pytest.mark.parametrize("fmt", list(VexFormat))
def test_render_vex_dispatches_on_the_format(fmt: VexFormat) -> None:
    ev = one_of_each()
    by_format = {
        VexFormat.OPENVEX: render_openvex(ev, product=PRODUCT, author=AUTHOR, timestamp=WHEN),
        VexFormat.CYCLONEDX: render_cyclonedx(ev, product=PRODUCT, timestamp=WHEN),
    }
    assert render_vex(ev, fmt, product=PRODUCT, author=AUTHOR, timestamp=WHEN) == by_format[fmt]


def test_another_key_is_refused(service: Signer, stranger: Signer, openvex: bytes) -> None:
    envelope = sign_vex(openvex, VexFormat.OPENVEX, stranger)
    with pytest.raises(SignatureInvalid) as caught:
        verify_vex(envelope, key=service.public_key)
    assert caught.value.reason == "unknown_key"
    assert caught.value.report is not None and not caught.value.report.ok


def test_a_modified_payload_is_refused(service: Signer, openvex: bytes) -> None:
    changed = openvex.replace(b'"not_affected"', b'"affected"', 1)
    assert changed != openvex
    envelope = tamper(sign_vex(openvex, VexFormat.OPENVEX, service), changed)
    with pytest.raises(SignatureInvalid) as caught:
        verify_vex(envelope, key=service.public_key)
    assert caught.value.reason == "bad_signature"


def test_a_document_that_is_not_the_payload_is_a_hash_mismatch(
    service: Signer, openvex: bytes
) -> None:
    envelope = sign_vex(openvex, VexFormat.OPENVEX, service)
    with pytest.raises(HashMismatch) as caught:
        verify_vex(envelope, key=service.public_key, document=openvex + b"\n")
    assert caught.value.reason == "vex_document_mismatch"
    assert sha256_hex(openvex) in str(caught.value)


def test_a_signed_payload_of_another_type_is_refused(service: Signer, openvex: bytes) -> None:
    envelope = sign_envelope(openvex, RECEIPT_PAYLOAD_TYPE, [service]).to_json()
    with pytest.raises(SignatureInvalid) as caught:
        verify_vex(envelope, key=service.public_key)
    assert caught.value.reason == "payload_type_mismatch"


def test_a_payload_type_that_lies_about_the_format_is_refused(service: Signer) -> None:
    cyclonedx = render_cyclonedx(one_of_each(), product=PRODUCT, timestamp=WHEN)
    with pytest.raises(InvalidVex):
        verify_vex(sign_vex(cyclonedx, VexFormat.OPENVEX, service), key=service.public_key)
    with pytest.raises(InvalidVex):
        verify_vex(sign_vex(b"[1]", VexFormat.CYCLONEDX, service), key=service.public_key)


def test_a_malformed_envelope_is_invalid_input(service: Signer) -> None:
    with pytest.raises(InvalidEnvelope):
        verify_vex(b'{"payload": "x"}', key=service.public_key)
