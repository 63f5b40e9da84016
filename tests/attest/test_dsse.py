"""DSSE envelopes: PAE known answer, sign/verify with real keys, tampering, malformed input."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from stella_signals.attest import (
    IN_TOTO_PAYLOAD_TYPE,
    MAX_SIGNATURES,
    RECEIPT_PAYLOAD_TYPE,
    CheckReason,
    Envelope,
    EnvelopeSignature,
    InvalidEnvelope,
    KeyKind,
    PublicKey,
    SignatureInvalid,
    Signer,
    VerifiedPayload,
    check_envelope,
    generate_private_key_pem,
    load_signer,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from stella_signals.errors import InvalidInput, VerificationFailed

#: Bytes whose standard base64 holds "+" and "/" (the URL-safe form differs) and padding.
PAYLOAD = b'{"r": "xx\xfb\xef\xff", "n": 1}\n'
KINDS: list[KeyKind] = ["ed25519", "ecdsa-p256"]


@dataclass(frozen=True)
class Keys:
    """Two trusted signers and one the verifier has never heard of, all of one kind."""

    a: Signer
    b: Signer
    stranger: Signer

    @property
    def trusted(self) -> list[PublicKey]:
        return [self.a.public_key, self.b.public_key]


@pytest.fixture(scope="module", params=KINDS)
def keys(request: pytest.FixtureRequest) -> Keys:
    kind = request.param
    return Keys(*(load_signer(generate_private_key_pem(kind)) for _ in range(3)))


def signed(keys: Keys, *signers: Signer) -> Envelope:
    return sign_envelope(PAYLOAD, RECEIPT_PAYLOAD_TYPE, signers or (keys.a,))


def resign(envelope: Envelope, signers: list[Signer], **changes: Any) -> Envelope:
    """Change fields of ``envelope`` and sign it afresh, as an attacker with ``signers`` would."""
    changed = replace(envelope, **changes)
    return sign_envelope(changed.payload, changed.payload_type, signers)


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def b64(data: bytes, *, urlsafe: bool = False, padded: bool = True) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    return text if padded else text.rstrip("=")


# --- PAE ------------------------------------------------------------------------------------


def test_pae_known_answer() -> None:
    """secure-systems-lab/dsse protocol.md, as typed in tests/vectors/README.md."""
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t\u00e9", "\u00e9".encode()) == b"DSSEv1 3 t\xc3\xa9 2 \xc3\xa9"
    assert pae("", b"") == b"DSSEv1 0  0 "


# --- sign / verify round trip ---------------------------------------------------------------


def test_round_trip(keys: Keys) -> None:
    envelope = signed(keys)
    parsed = parse_envelope(envelope.to_json())
    assert parsed == envelope
    verified = verify_envelope(parsed, trusted=keys.trusted, payload_type=RECEIPT_PAYLOAD_TYPE)
    assert verified.payload == PAYLOAD
    assert verified.payload_type == RECEIPT_PAYLOAD_TYPE
    assert verified.keyids == (keys.a.keyid,)


def test_signatures_cover_pae_of_the_exact_bytes(keys: Keys) -> None:
    envelope = signed(keys)
    (signature,) = envelope.signatures
    assert signature.keyid == keys.a.keyid
    assert keys.a.public_key.verify(signature.sig, pae(RECEIPT_PAYLOAD_TYPE, PAYLOAD))
    assert not keys.a.public_key.verify(signature.sig, PAYLOAD)


def test_payload_bytes_are_never_reserialised(keys: Keys) -> None:
    odd = b'{ "b" : 1,\t"a":2 }'  # not canonical JSON; must survive byte for byte
    envelope = parse_envelope(sign_envelope(odd, RECEIPT_PAYLOAD_TYPE, [keys.a]).to_json())
    verified = verify_envelope(envelope, trusted=keys.trusted, payload_type=RECEIPT_PAYLOAD_TYPE)
    assert verified.payload == odd


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
@pytest.mark.parametrize("urlsafe", [False, True], ids=["standard", "urlsafe"])
def test_both_base64_alphabets_verify(keys: Keys, urlsafe: bool, padded: bool) -> None:
    envelope = signed(keys)
    assert {"+", "/", "="} <= set(b64(PAYLOAD))  # the variants really differ here
    document = {
        "payload": b64(PAYLOAD, urlsafe=urlsafe, padded=padded),
        "payloadType": RECEIPT_PAYLOAD_TYPE,
        "signatures": [
            {"keyid": s.keyid, "sig": b64(s.sig, urlsafe=urlsafe, padded=padded)}
            for s in envelope.signatures
        ],
    }
    parsed = parse_envelope(json.dumps(document).encode())
    assert parsed == envelope
    verified = verify_envelope(parsed, trusted=keys.trusted, payload_type=RECEIPT_PAYLOAD_TYPE)
    assert verified.payload == PAYLOAD


def test_to_json_is_deterministic_with_standard_base64() -> None:
    envelope = Envelope(
        payload=b"\xfb\xff",
        payload_type="t",
        signatures=(EnvelopeSignature(keyid="k", sig=b"\xff\xfe"),),
    )
    assert envelope.to_json() == (
        b'{"payload":"+/8=","payloadType":"t","signatures":[{"keyid":"k","sig":"//4="}]}'
    )


def test_unknown_members_are_ignored_and_a_missing_keyid_is_empty(keys: Keys) -> None:
    envelope = signed(keys)
    document = json.loads(envelope.to_json())
    document["extension"] = {"x": 1}
    del document["signatures"][0]["keyid"]
    document["signatures"][0]["comment"] = "hi"
    parsed = parse_envelope(json.dumps(document).encode())
    assert parsed.signatures[0].keyid == ""
    report = check_envelope(parsed, trusted=keys.trusted, payload_type=RECEIPT_PAYLOAD_TYPE)
    assert report.ok and report.keyids == (keys.a.keyid,)


# --- trust: keyid is a hint, never a decision -----------------------------------------------


def test_keyid_naming_a_trusted_key_does_not_make_a_stranger_trusted(keys: Keys) -> None:
    forged = resign(signed(keys), [keys.stranger])
    forged = replace(forged, signatures=(replace(forged.signatures[0], keyid=keys.a.keyid),))
    report = check_envelope(forged, trusted=keys.trusted, payload_type=RECEIPT_PAYLOAD_TYPE)
    assert not report.ok
    assert report.reason is CheckReason.THRESHOLD_NOT_MET
    (check,) = report.signatures
    assert check.keyid_hint == keys.a.keyid
    assert check.verified_by is None
    assert check.reason is CheckReason.BAD_SIGNATURE
    with pytest.raises(SignatureInvalid) as caught:
        verify_envelope(forged, trusted=keys.trusted, payload_type=RECEIPT_PAYLOAD_TYPE)
    assert caught.value.reason == "dsse_invalid"
    assert caught.value.report == report
    assert isinstance(caught.value, VerificationFailed)


def _sig_of(envelope: Envelope, signer: Signer) -> EnvelopeSignature:
    return sign_envelope(envelope.payload, envelope.payload_type, [signer]).signatures[0]


def _with_keyid(envelope: Envelope, keyid: str) -> Envelope:
    return replace(envelope, signatures=(replace(envelope.signatures[0], keyid=keyid),))


Mutation = Callable[[Envelope, Keys], Envelope]


@dataclass(frozen=True)
class Case:
    mutate: Mutation
    #: The verifier's side.
    threshold: int = 1
    payload_type: str = RECEIPT_PAYLOAD_TYPE
    #: Expected outcome: None for ok, and the trusted signers counted (by attribute name).
    reason: CheckReason | None = None
    counted: tuple[str, ...] = ("a",)


MUTATIONS = {
    "untouched": Case(lambda e, k: e),
    "payload-byte-flipped": Case(
        lambda e, k: replace(e, payload=flip(e.payload, 3)),
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=(),
    ),
    "payload-byte-flipped-and-re-signed": Case(
        lambda e, k: resign(e, [k.a], payload=flip(e.payload, 3))
    ),
    "payload-byte-flipped-re-signed-by-stranger": Case(
        lambda e, k: resign(e, [k.stranger], payload=flip(e.payload, 3)),
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=(),
    ),
    "payload-truncated": Case(
        lambda e, k: replace(e, payload=e.payload[:-1]),
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=(),
    ),
    "payload-type-changed": Case(
        lambda e, k: replace(e, payload_type=IN_TOTO_PAYLOAD_TYPE),
        reason=CheckReason.PAYLOAD_TYPE_MISMATCH,
        counted=(),
    ),
    "payload-type-changed-verifier-expects-it": Case(
        lambda e, k: replace(e, payload_type=IN_TOTO_PAYLOAD_TYPE),
        payload_type=IN_TOTO_PAYLOAD_TYPE,
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=(),
    ),
    "payload-type-changed-and-re-signed": Case(  # validly signed, but not what we asked for
        lambda e, k: resign(e, [k.a], payload_type=IN_TOTO_PAYLOAD_TYPE),
        reason=CheckReason.PAYLOAD_TYPE_MISMATCH,
    ),
    "signature-byte-flipped": Case(
        lambda e, k: replace(
            e, signatures=(replace(e.signatures[0], sig=flip(e.signatures[0].sig, 7)),)
        ),
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=(),
    ),
    "signature-truncated": Case(
        lambda e, k: replace(
            e, signatures=(replace(e.signatures[0], sig=e.signatures[0].sig[:-1]),)
        ),
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=(),
    ),
    "signature-empty": Case(
        lambda e, k: replace(e, signatures=(replace(e.signatures[0], sig=b""),)),
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=(),
    ),
    "keyid-changed": Case(lambda e, k: _with_keyid(e, "someone-else")),
    "keyid-empty": Case(lambda e, k: _with_keyid(e, "")),
    "keyid-names-a-signed-by-b": Case(
        lambda e, k: replace(e, signatures=(replace(_sig_of(e, k.b), keyid=k.a.keyid),)),
        counted=("b",),
    ),
    "extra-signature-by-untrusted-key": Case(
        lambda e, k: replace(e, signatures=(*e.signatures, _sig_of(e, k.stranger)))
    ),
    "untrusted-signature-first": Case(
        lambda e, k: replace(e, signatures=(_sig_of(e, k.stranger), *e.signatures))
    ),
    "only-untrusted-signature": Case(
        lambda e, k: resign(e, [k.stranger]),
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=(),
    ),
    "threshold-2-with-one-key": Case(
        lambda e, k: e, threshold=2, reason=CheckReason.THRESHOLD_NOT_MET
    ),
    "threshold-2-same-key-twice": Case(
        lambda e, k: replace(e, signatures=(e.signatures[0], e.signatures[0])),
        threshold=2,
        reason=CheckReason.THRESHOLD_NOT_MET,
    ),
    "threshold-2-same-key-re-signed-under-other-keyid": Case(
        lambda e, k: replace(e, signatures=(e.signatures[0], replace(_sig_of(e, k.a), keyid="x"))),
        threshold=2,
        reason=CheckReason.THRESHOLD_NOT_MET,
    ),
    "threshold-2-with-a-stranger": Case(
        lambda e, k: resign(e, [k.a, k.stranger]),
        threshold=2,
        reason=CheckReason.THRESHOLD_NOT_MET,
    ),
    "threshold-2-with-two-trusted-keys": Case(
        lambda e, k: resign(e, [k.b, k.a]), threshold=2, counted=("b", "a")
    ),
    "threshold-3-with-two-trusted-keys": Case(
        lambda e, k: resign(e, [k.a, k.b]),
        threshold=3,
        reason=CheckReason.THRESHOLD_NOT_MET,
        counted=("a", "b"),
    ),
}


@pytest.mark.parametrize("case", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_mutate_and_re_sign(keys: Keys, case: Case) -> None:
    envelope = case.mutate(signed(keys), keys)
    envelope = parse_envelope(envelope.to_json())  # through the wire, as a verifier sees it
    report = check_envelope(
        envelope, trusted=keys.trusted, payload_type=case.payload_type, threshold=case.threshold
    )
    assert report.reason is case.reason, report.message
    assert report.ok is (case.reason is None)
    assert report.keyids == tuple(getattr(keys, name).keyid for name in case.counted)
    assert len(report.signatures) == len(envelope.signatures)
    for check in report.signatures:
        assert (check.verified_by is None) is (check.reason is not None)
        assert check.verified_by is None or check.verified_by in report.keyids
    json.dumps(report.to_dict())  # plain data, ready for the timeline
    if report.ok:
        verified = verify_envelope(
            envelope,
            trusted=keys.trusted,
            payload_type=case.payload_type,
            threshold=case.threshold,
        )
        assert verified.payload == envelope.payload
        assert verified.keyids == report.keyids
    else:
        with pytest.raises(SignatureInvalid, match="DSSE envelope rejected"):
            verify_envelope(
                envelope,
                trusted=keys.trusted,
                payload_type=case.payload_type,
                threshold=case.threshold,
            )


def test_unknown_key_versus_bad_signature(keys: Keys) -> None:
    original = signed(keys)
    good = original.signatures[0]
    bad = replace(good, sig=flip(good.sig, 0))
    envelope = replace(original, signatures=(_sig_of(original, keys.stranger), bad))
    report = check_envelope(envelope, trusted=keys.trusted, payload_type=RECEIPT_PAYLOAD_TYPE)
    assert [c.reason for c in report.signatures] == [
        CheckReason.UNKNOWN_KEY,
        CheckReason.BAD_SIGNATURE,
    ]


def test_no_trusted_keys_is_a_failed_check_not_an_error(keys: Keys) -> None:
    report = check_envelope(signed(keys), trusted=[], payload_type=RECEIPT_PAYLOAD_TYPE)
    assert not report.ok
    assert report.signatures[0].reason is CheckReason.UNKNOWN_KEY


def test_a_trusted_key_listed_twice_counts_once(keys: Keys) -> None:
    report = check_envelope(
        signed(keys),
        trusted=[keys.a.public_key, keys.a.public_key],
        payload_type=RECEIPT_PAYLOAD_TYPE,
        threshold=2,
    )
    assert not report.ok and report.keyids == (keys.a.keyid,)


@pytest.mark.parametrize("threshold", [0, -1])
def test_threshold_must_be_positive(keys: Keys, threshold: int) -> None:
    with pytest.raises(ValueError, match="threshold"):
        check_envelope(signed(keys), trusted=keys.trusted, payload_type="t", threshold=threshold)


def test_verified_payload_is_made_only_by_the_verifier(keys: Keys) -> None:
    with pytest.raises(TypeError):
        VerifiedPayload(b"evil", RECEIPT_PAYLOAD_TYPE, (keys.a.keyid,), object())
    verified = verify_envelope(
        signed(keys), trusted=keys.trusted, payload_type=RECEIPT_PAYLOAD_TYPE
    )
    with pytest.raises(ValueError, match="_token"):
        replace(verified, payload=b"evil")  # type: ignore[call-arg]  # the point: no token


def test_sign_needs_a_signer() -> None:
    with pytest.raises(ValueError, match="signer"):
        sign_envelope(PAYLOAD, RECEIPT_PAYLOAD_TYPE, [])


def test_models_refuse_wrong_python_types() -> None:
    sig = EnvelopeSignature(keyid="k", sig=b"s")
    bad: Any = "not bytes"
    with pytest.raises(TypeError):
        EnvelopeSignature(keyid="k", sig=bad)
    with pytest.raises(TypeError):
        Envelope(payload=bad, payload_type="t", signatures=(sig,))
    with pytest.raises(TypeError):
        Envelope(payload=b"", payload_type="t", signatures=[sig])  # type: ignore[arg-type]


def test_an_envelope_has_a_signature() -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        Envelope(payload=b"", payload_type="t", signatures=())
    assert caught.value.field == "signatures"


# --- malformed envelopes --------------------------------------------------------------------

GOOD_SIG = {"keyid": "k", "sig": "AAAA"}


def doc(**members: Any) -> bytes:
    """An envelope document with the given members replaced; ``None`` drops a member."""
    document: dict[str, Any] = {
        "payload": "aGVsbG8=",
        "payloadType": RECEIPT_PAYLOAD_TYPE,
        "signatures": [GOOD_SIG],
    }
    document.update(members)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


MALFORMED: dict[str, tuple[bytes, str | None]] = {
    "not-json": (b"{not json", None),
    "empty-body": (b"", None),
    "not-utf8": (b'{"payload": "\xff"}', None),
    "nan": (b'{"payload": NaN}', None),
    "top-level-array": (b"[]", None),
    "duplicate-keys": (
        b'{"payload":"aGVsbG8=","payloadType":"a","payloadType":"b","signatures":[]}',
        None,
    ),
    "missing-payload": (doc(payload=None), "payload"),
    "missing-payloadType": (doc(payloadType=None), "payloadType"),
    "missing-signatures": (doc(signatures=None), "signatures"),
    "payload-not-a-string": (doc(payload=12), "payload"),
    "payload-bad-base64": (doc(payload="@@@@"), "payload"),
    "payload-with-whitespace": (doc(payload="aGVs bG8="), "payload"),
    "payload-mixed-alphabets": (doc(payload="ab+_"), "payload"),
    "payload-one-char-too-many": (doc(payload="aGVsbG8=a"), "payload"),
    "payload-short-padding": (doc(payload="QQ="), "payload"),
    "payload-too-much-padding": (doc(payload="QQ==="), "payload"),
    "payload-padding-in-the-middle": (doc(payload="QQ==QQ=="), "payload"),
    "payload-non-canonical-bits": (doc(payload="QR=="), "payload"),
    "payloadType-not-a-string": (doc(payloadType=["a"]), "payloadType"),
    "payloadType-boolean": (doc(payloadType=True), "payloadType"),
    "payloadType-null": (b'{"payload":"","payloadType":null,"signatures":[]}', "payloadType"),
    "payloadType-lone-surrogate": (
        b'{"payload":"","payloadType":"\\ud800","signatures":[{"sig":""}]}',
        "payloadType",
    ),
    "signatures-not-a-list": (doc(signatures={"sig": "AAAA"}), "signatures"),
    "signatures-empty": (doc(signatures=[]), "signatures"),
    "signature-not-an-object": (doc(signatures=["AAAA"]), "signatures[0]"),
    "signature-missing-sig": (doc(signatures=[{"keyid": "k"}]), "signatures[0].sig"),
    "signature-sig-null": (doc(signatures=[{"sig": None}]), "signatures[0].sig"),
    "signature-bad-base64": (doc(signatures=[{"sig": "!!"}]), "signatures[0].sig"),
    "signature-keyid-not-a-string": (
        doc(signatures=[{"keyid": 7, "sig": "AAAA"}]),
        "signatures[0].keyid",
    ),
    "second-signature-bad": (doc(signatures=[GOOD_SIG, {"sig": "A"}]), "signatures[1].sig"),
    "too-many-signatures": (doc(signatures=[GOOD_SIG] * (MAX_SIGNATURES + 1)), "signatures"),
}


@pytest.mark.parametrize(("data", "field"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_envelope(data: bytes, field: str | None) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        parse_envelope(data)
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.reason == "dsse_invalid"
    assert error.field == field
    if field is not None:
        assert str(error).startswith(f"{field}:")


def test_the_malformed_table_starts_from_a_valid_document() -> None:
    envelope = parse_envelope(doc())
    assert envelope.payload == b"hello"
    assert envelope.signatures == (EnvelopeSignature(keyid="k", sig=b"\x00\x00\x00"),)
    assert parse_envelope(doc(payload="")).payload == b""  # set-but-empty is allowed


def test_signature_limit_is_configurable() -> None:
    assert len(parse_envelope(doc(signatures=[GOOD_SIG] * 3), max_signatures=3).signatures) == 3
    with pytest.raises(InvalidEnvelope, match="at most 2"):
        parse_envelope(doc(signatures=[GOOD_SIG] * 3), max_signatures=2)
