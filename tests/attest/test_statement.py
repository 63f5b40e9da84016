"""in-toto Statements and runtime-trace attestations (SPEC §5).

The golden bytes are written out by hand; `in-toto-attestation` (the in-toto project's own
Python bindings) is the oracle that our statements are well-formed Statement v1 documents.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from in_toto_attestation.v1 import statement_pb2  # type: ignore[import-untyped]
from in_toto_attestation.v1.statement import (  # type: ignore[import-untyped]
    Statement as OracleStatement,
)

from stella_signals.attest import (
    IN_TOTO_PAYLOAD_TYPE,
    RICHGRAPH_PREDICATE,
    RUNTIME_TRACE_PREDICATE,
    STATEMENT_TYPE,
    CheckReason,
    Envelope,
    EnvelopeSignature,
    InvalidEnvelope,
    InvalidStatement,
    KeyKind,
    SignatureInvalid,
    Signer,
    Statement,
    Subject,
    VerifiedRuntimeAttestation,
    check_runtime_attestation,
    generate_private_key_pem,
    load_signer,
    parse_envelope,
    parse_statement,
    runtime_trace_statement,
    sign_envelope,
    sign_runtime_trace,
    statement_bytes,
    verify_runtime_attestation,
)
from stella_signals.errors import (
    HashMismatch,
    InvalidDigest,
    InvalidInput,
    InvalidTenant,
    InvalidTrace,
)
from stella_signals.trace import TraceReport, parse_trace

# --- golden ---------------------------------------------------------------------------------

#: A small trace: two symbols, the second timestamp given with an offset (stored as UTC).
TRACE = (
    b'{"symbol_id":"sym:python:abc","purl":"pkg:pypi/requests@2.31.0",'
    b'"timestamp":"2026-01-01T00:00:00Z","count":3,"pid":42,"container":"c1"}\n'
    b'{"symbol_id":"sym:python:def","purl":"pkg:pypi/requests@2.31.0",'
    b'"timestamp":"2026-01-01T01:05:30.250+01:00","count":1,"pid":42,"container":"c1"}\n'
)
TRACE_SHA256 = "39940ecddfc81006c3beafd142cf59bab8ea3d4740625b40a16d0b39dafd6b85"
TRACE_NAME = "runtime-trace.ndjson"
GRAPH_HASH = "blake3:" + "0f" * 32

#: RFC 8785 bytes of the statement for TRACE (tenant acme, no graph hash), by hand.
GOLDEN = (
    b'{"_type":"https://in-toto.io/Statement/v1",'
    b'"predicate":{'
    b'"cas_uri":"cas://reachability/runtime/'
    b'39940ecddfc81006c3beafd142cf59bab8ea3d4740625b40a16d0b39dafd6b85",'
    b'"first_seen":"2026-01-01T00:00:00Z",'
    b'"last_seen":"2026-01-01T00:05:30.250000Z",'
    b'"records":2,'
    b'"tenant":"acme",'
    b'"unique_symbols":2},'
    b'"predicateType":"https://stella-ops.org/attestations/runtime-trace/v1",'
    b'"subject":[{"digest":{"sha256":'
    b'"39940ecddfc81006c3beafd142cf59bab8ea3d4740625b40a16d0b39dafd6b85"},'
    b'"name":"runtime-trace.ndjson"}]}'
)


@pytest.fixture(scope="module")
def report() -> TraceReport:
    parsed = parse_trace([TRACE], name=TRACE_NAME)
    assert parsed.valid, parsed.diagnostics
    return parsed


def statement_for(
    report: TraceReport, *, tenant: str = "acme", graph_hash: str | None = None
) -> Statement:
    return runtime_trace_statement(
        file_name=TRACE_NAME, report=report, tenant=tenant, graph_hash=graph_hash
    )


def test_trace_digest_is_what_the_golden_says() -> None:
    assert hashlib.sha256(TRACE).hexdigest() == TRACE_SHA256


def test_statement_bytes_match_the_golden(report: TraceReport) -> None:
    assert statement_bytes(statement_for(report)) == GOLDEN


def test_graph_hash_is_emitted_prefixed_and_omitted_when_none(report: TraceReport) -> None:
    bare = statement_for(report, graph_hash="0f" * 32)
    prefixed = statement_for(report, graph_hash=GRAPH_HASH)
    assert bare == prefixed
    assert bare.predicate["graph_hash"] == GRAPH_HASH
    assert "graph_hash" not in statement_for(report).predicate


def test_statement_fields(report: TraceReport) -> None:
    statement = statement_for(report, graph_hash=GRAPH_HASH)
    assert statement.subject == (Subject(TRACE_NAME, {"sha256": TRACE_SHA256}),)
    assert statement.predicate_type == RUNTIME_TRACE_PREDICATE
    assert dict(statement.predicate) == {
        "tenant": "acme",
        "graph_hash": GRAPH_HASH,
        "cas_uri": f"cas://reachability/runtime/{TRACE_SHA256}",
        "records": 2,
        "unique_symbols": 2,
        "first_seen": "2026-01-01T00:00:00Z",
        "last_seen": "2026-01-01T00:05:30.250000Z",
    }
    assert statement.to_dict()["_type"] == STATEMENT_TYPE


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"tenant": "Acme"}, InvalidTenant),
        ({"graph_hash": "sha256:" + "0f" * 32}, InvalidDigest),
        ({"graph_hash": "blake3:xyz"}, InvalidDigest),
    ],
    ids=["uppercase-tenant", "sha256-graph-hash", "malformed-graph-hash"],
)
def test_runtime_statement_refuses_bad_arguments(
    report: TraceReport, changes: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        statement_for(report, **changes)


def test_runtime_statement_refuses_an_invalid_trace() -> None:
    bad = parse_trace([b'{"symbol_id": "x"}\n'], name="bad.ndjson")
    with pytest.raises(InvalidTrace):
        runtime_trace_statement(file_name="bad.ndjson", report=bad, tenant="acme", graph_hash=None)


# --- model and round trip -------------------------------------------------------------------


def test_round_trip(report: TraceReport) -> None:
    statement = statement_for(report, graph_hash=GRAPH_HASH)
    again = parse_statement(statement_bytes(statement))
    assert again == statement
    assert statement_bytes(again) == statement_bytes(statement)
    assert again.to_dict() == statement.to_dict()
    assert hash(again) == hash(statement)


def test_parse_accepts_any_key_order_and_spacing_and_ignores_unknown_members() -> None:
    document = json.loads(GOLDEN)
    document["subject"][0]["uri"] = "file:///tmp/x"  # a ResourceDescriptor member we ignore
    document["extra"] = {"ignored": True}
    payload = json.dumps(dict(reversed(document.items())), indent=3).encode()
    assert statement_bytes(parse_statement(payload)) == GOLDEN


def test_statement_is_frozen_deeply() -> None:
    predicate: dict[str, Any] = {"list": [1, {"a": "b"}], "obj": {"k": [True, None, 1.5]}}
    digest = {"sha256": "ab" * 32}
    statement = Statement((Subject("x", digest),), "https://example.com/p", predicate)
    before = statement_bytes(statement)
    predicate["list"].append(2)
    digest["sha512"] = "cd" * 64
    assert statement_bytes(statement) == before
    assert statement.subject[0].digest == {"sha256": "ab" * 32}
    with pytest.raises(TypeError):
        statement.predicate["new"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        statement.predicate["list"].append(3)
    assert statement.to_dict()["predicate"] == {
        "list": [1, {"a": "b"}],
        "obj": {"k": [True, None, 1.5]},
    }


def test_equality_is_json_equality() -> None:
    subject = (Subject("x", {"sha256": "ab" * 32}),)
    one = Statement(subject, "p:x", {"v": 1})
    assert one == Statement(subject, "p:x", {"v": 1.0})  # the same JSON number
    assert one != Statement(subject, "p:x", {"v": True})


@pytest.mark.parametrize(
    "build",
    [
        lambda: Statement((), "p:x", {}),
        lambda: Statement((Subject("x", {"sha256": "ab" * 32}),), "", {}),
        lambda: Statement((Subject("x", {"sha256": "ab" * 32}),), "p:x", {"n": float("nan")}),
        lambda: Statement((Subject("x", {"sha256": "ab" * 32}),), "p:x", {"n": 2**60}),
        lambda: Subject("", {"sha256": "ab" * 32}),
        lambda: Subject("x", {}),
        lambda: Subject("x", {"sha256": "AB" * 32}),
    ],
    ids=[
        "no-subject",
        "empty-predicate-type",
        "nan",
        "int-past-2^53",
        "empty-name",
        "empty-digest",
        "uppercase-hex",
    ],
)
def test_models_are_valid_by_construction(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidStatement) as caught:
        build()
    assert caught.value.reason == "dsse_invalid"


# --- parse_statement: named table of defects ------------------------------------------------


def _golden_with(change: Callable[[dict[str, Any]], object]) -> bytes:
    document = json.loads(GOLDEN)
    change(document)
    return json.dumps(document).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is ...:
            del target[int(last) if isinstance(target, list) else last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


BAD_STATEMENTS: dict[str, tuple[bytes, str | None]] = {
    "not-json": (b"{", None),
    "not-utf8": (b'{"_type": "\xff"}', None),
    "utf16": (GOLDEN.decode().encode("utf-16"), None),
    "duplicate-key": (GOLDEN[:-1] + b',"predicateType":"x"}', None),
    "top-level-array": (b"[]", None),
    "no-type": (_golden_with(_set("_type", ...)), "_type"),
    "statement-v0.1": (_golden_with(_set("_type", "https://in-toto.io/Statement/v0.1")), "_type"),
    "no-subject": (_golden_with(_set("subject", ...)), "subject"),
    "subject-object": (_golden_with(_set("subject", {})), "subject"),
    "empty-subject": (_golden_with(_set("subject", [])), "subject"),
    "subject-item-string": (_golden_with(_set("subject/0", "x")), "subject[0]"),
    "no-name": (_golden_with(_set("subject/0/name", ...)), "subject[0].name"),
    "name-number": (_golden_with(_set("subject/0/name", 1)), "subject[0].name"),
    "no-digest": (_golden_with(_set("subject/0/digest", ...)), "subject[0].digest"),
    "empty-digest": (_golden_with(_set("subject/0/digest", {})), "subject[0].digest"),
    "digest-array": (_golden_with(_set("subject/0/digest", [])), "subject[0].digest"),
    "digest-uppercase": (
        _golden_with(_set("subject/0/digest/sha256", TRACE_SHA256.upper())),
        "subject[0].digest.sha256",
    ),
    "digest-short": (
        _golden_with(_set("subject/0/digest/sha256", TRACE_SHA256[:-2])),
        "subject[0].digest.sha256",
    ),
    "digest-number": (_golden_with(_set("subject/0/digest/sha256", 1)), "subject[0].digest.sha256"),
    "no-predicate-type": (_golden_with(_set("predicateType", ...)), "predicateType"),
    "empty-predicate-type": (_golden_with(_set("predicateType", "")), "predicateType"),
    "predicate-type-number": (_golden_with(_set("predicateType", 7)), "predicateType"),
    "no-predicate": (_golden_with(_set("predicate", ...)), "predicate"),
    "predicate-array": (_golden_with(_set("predicate", [])), "predicate"),
    "lone-surrogate": (GOLDEN.replace(b'"acme"', b'"\\ud800"'), None),
}


@pytest.mark.parametrize(("payload", "field"), BAD_STATEMENTS.values(), ids=BAD_STATEMENTS)
def test_parse_statement_rejects(payload: bytes, field: str | None) -> None:
    with pytest.raises(InvalidStatement) as caught:
        parse_statement(payload)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.reason == "dsse_invalid"
    assert caught.value.field == field
    if field is not None:
        assert str(caught.value).startswith(field)


# --- the in-toto-attestation oracle ---------------------------------------------------------


def oracle_validate(payload: bytes) -> None:
    """Parse with the in-toto protobuf bindings (unknown members refused) and validate."""
    message = json_format.Parse(payload.decode(), statement_pb2.Statement())
    OracleStatement.copy_from_pb(message).validate()


def test_oracle_accepts_our_statements(report: TraceReport) -> None:
    for statement in (statement_for(report), statement_for(report, graph_hash=GRAPH_HASH)):
        oracle_validate(statement_bytes(statement))
    several = Statement(
        (Subject("a", {"sha256": "ab" * 32}), Subject("b", {"sha512": "cd" * 64, "x": "00"})),
        RICHGRAPH_PREDICATE,
        {"nested": {"list": [1, "two", None]}},
    )
    oracle_validate(statement_bytes(several))


@pytest.mark.parametrize(
    "name", ["statement-v0.1", "empty-subject", "empty-digest", "empty-predicate-type"]
)
def test_oracle_agrees_on_rejections(name: str) -> None:
    payload, _ = BAD_STATEMENTS[name]
    with pytest.raises(InvalidStatement):
        parse_statement(payload)
    with pytest.raises((ValueError, json_format.ParseError)):
        oracle_validate(payload)


# --- mutate and re-sign: a named table of attacks, for both key kinds -----------------------

KINDS: list[KeyKind] = ["ed25519", "ecdsa-p256"]


@dataclass(frozen=True)
class Kit:
    """Two trusted signers, a stranger, and a signer of the other key kind."""

    a: Signer
    b: Signer
    stranger: Signer
    other_kind: Signer
    golden: dict[str, Any]

    def payload(self, change: Callable[[dict[str, Any]], object] | None = None) -> bytes:
        document = json.loads(json.dumps(self.golden))
        if change is not None:
            change(document)
        return json.dumps(document, separators=(",", ":")).encode()

    def issue(
        self,
        *signers: Signer,
        payload: bytes | None = None,
        payload_type: str = IN_TOTO_PAYLOAD_TYPE,
    ) -> Envelope:
        """A valid envelope by ``signers`` (default: ``a``) over ``payload``."""
        return sign_envelope(payload or self.payload(), payload_type, signers or (self.a,))


def envelope_doc(envelope: Envelope) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(envelope.to_json())
    return document


def as_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def forged_keyid(kit: Kit) -> bytes:
    """A signature by a key of the other kind that claims to be ``a``'s."""
    envelope = kit.issue(kit.other_kind)
    forged = EnvelopeSignature(keyid=kit.a.keyid, sig=envelope.signatures[0].sig)
    return replace(envelope, signatures=(forged,)).to_json()


def truncated(kit: Kit, member: str, keep: int) -> bytes:
    """Drop the last 4-character quantum of a base64 member but ``keep`` of its characters:
    0 leaves valid base64 of fewer bytes, 1 leaves an impossible length."""
    document = envelope_doc(kit.issue())
    target = document["signatures"][0] if member == "sig" else document
    text = target[member]
    target[member] = text[:-4] + text[-4:][:keep]
    return as_bytes(document)


def url_safe(kit: Kit) -> bytes:
    """The payload in URL-safe base64 without padding (SPEC §5: verifiers accept it)."""
    envelope = kit.issue(payload=kit.payload(_set("predicate/note", "?????>>>>>\u00ff\u00fe")))
    document = envelope_doc(envelope)
    text = base64.urlsafe_b64encode(envelope.payload).decode().rstrip("=")
    assert "_" in text or "-" in text, "the payload must exercise the URL-safe alphabet"
    document["payload"] = text
    return as_bytes(document)


def _wrong_subject(document: dict[str, Any]) -> None:
    document["subject"][0]["digest"]["sha256"] = "ee" * 32


def _another_trace(document: dict[str, Any]) -> None:
    _wrong_subject(document)
    document["predicate"]["cas_uri"] = "cas://reachability/runtime/" + "ee" * 32


def _wrong_subject_and_type(document: dict[str, Any]) -> None:
    _wrong_subject(document)
    document["predicateType"] = RICHGRAPH_PREDICATE


@dataclass(frozen=True)
class Attack:
    #: Envelope JSON bytes to present.
    make: Callable[[Kit], bytes]
    #: Expected report reason (None: accepted); "parse" means `parse_envelope` refuses it.
    expect: str | None
    threshold: int = 1
    tenant: str | None = "acme"


def _resigned(change: Callable[[dict[str, Any]], object]) -> Callable[[Kit], bytes]:
    return lambda kit: kit.issue(payload=kit.payload(change)).to_json()


ATTACKS: dict[str, Attack] = {
    "untouched": Attack(lambda kit: kit.issue().to_json(), None),
    "tenant-unchecked": Attack(lambda kit: kit.issue().to_json(), None, tenant=None),
    "payload-byte-flipped": Attack(
        lambda kit: replace(kit.issue(), payload=flip(kit.payload(), 40)).to_json(),
        "dsse_invalid",
    ),
    "payload-type-changed-resigned": Attack(
        lambda kit: kit.issue(payload_type="application/json").to_json(), "dsse_invalid"
    ),
    "payload-type-changed-not-resigned": Attack(
        lambda kit: replace(kit.issue(), payload_type="application/json").to_json(),
        "dsse_invalid",
    ),
    "predicate-type-changed-resigned": Attack(
        _resigned(_set("predicateType", RICHGRAPH_PREDICATE)), "dsse_invalid"
    ),
    "subject-digest-changed-resigned": Attack(_resigned(_wrong_subject), "hash_mismatch"),
    "statement-about-another-trace": Attack(_resigned(_another_trace), "hash_mismatch"),
    "subject-and-predicate-type-wrong": Attack(_resigned(_wrong_subject_and_type), "dsse_invalid"),
    "subject-name-changed-resigned": Attack(_resigned(_set("subject/0/name", "other.gz")), None),
    "second-subject-matches": Attack(
        _resigned(lambda d: d["subject"].insert(0, {"name": "x", "digest": {"sha256": "ee" * 32}})),
        None,
    ),
    "tenant-changed-resigned": Attack(_resigned(_set("predicate/tenant", "evil")), "dsse_invalid"),
    "tenant-changed-unchecked": Attack(
        _resigned(_set("predicate/tenant", "evil")), None, tenant=None
    ),
    "tenant-missing": Attack(_resigned(_set("predicate/tenant", ...)), "dsse_invalid", tenant=None),
    "cas-uri-not-runtime": Attack(
        _resigned(_set("predicate/cas_uri", "cas://reachability/symbols/" + TRACE_SHA256)),
        "dsse_invalid",
    ),
    "graph-hash-sha256": Attack(
        _resigned(_set("predicate/graph_hash", "sha256:" + TRACE_SHA256)), "dsse_invalid"
    ),
    "first-seen-not-a-time": Attack(_resigned(_set("predicate/first_seen", "x")), "dsse_invalid"),
    # first_seen/last_seen are RFC 3339 date-times: fromisoformat's looser forms are refused
    "first-seen-basic-format": Attack(
        _resigned(_set("predicate/first_seen", "20260101T000000Z")), "dsse_invalid"
    ),
    "last-seen-without-seconds": Attack(
        _resigned(_set("predicate/last_seen", "2026-01-01T00:05Z")), "dsse_invalid"
    ),
    "cas-uri-other-digest": Attack(
        _resigned(_set("predicate/cas_uri", "cas://reachability/runtime/" + "ee" * 32)),
        "dsse_invalid",
    ),
    "records-negative": Attack(_resigned(_set("predicate/records", -1)), "dsse_invalid"),
    "statement-not-json-resigned": Attack(
        lambda kit: kit.issue(payload=b"not json").to_json(), "dsse_invalid"
    ),
    "statement-duplicate-key-resigned": Attack(
        lambda kit: kit.issue(payload=kit.payload()[:-1] + b',"predicateType":"x"}').to_json(),
        "dsse_invalid",
    ),
    "extra-untrusted-signature": Attack(lambda kit: kit.issue(kit.stranger, kit.a).to_json(), None),
    "extra-garbage-signature": Attack(
        lambda kit: replace(
            kit.issue(),
            signatures=(*kit.issue().signatures, EnvelopeSignature(kit.b.keyid, b"\0" * 64)),
        ).to_json(),
        None,
    ),
    "stranger-only": Attack(lambda kit: kit.issue(kit.stranger).to_json(), "dsse_invalid"),
    "wrong-key-type-claims-trusted-keyid": Attack(forged_keyid, "dsse_invalid"),
    "threshold-2-one-signer": Attack(lambda kit: kit.issue().to_json(), "dsse_invalid", 2),
    "threshold-2-same-key-twice": Attack(
        lambda kit: kit.issue(kit.a, kit.a).to_json(), "dsse_invalid", 2
    ),
    "threshold-2-two-signers": Attack(lambda kit: kit.issue(kit.a, kit.b).to_json(), None, 2),
    "url-safe-unpadded-payload": Attack(url_safe, None),
    "sig-truncated-base64-valid": Attack(lambda kit: truncated(kit, "sig", 0), "dsse_invalid"),
    "sig-truncated-base64-broken": Attack(lambda kit: truncated(kit, "sig", 1), "parse"),
    "payload-truncated-base64-valid": Attack(
        lambda kit: truncated(kit, "payload", 0), "dsse_invalid"
    ),
    "payload-truncated-base64-broken": Attack(lambda kit: truncated(kit, "payload", 1), "parse"),
    "no-signatures": Attack(
        lambda kit: as_bytes({**envelope_doc(kit.issue()), "signatures": []}), "parse"
    ),
    "signatures-missing": Attack(
        lambda kit: as_bytes(
            {k: v for k, v in envelope_doc(kit.issue()).items() if k != "signatures"}
        ),
        "parse",
    ),
}


@pytest.fixture(scope="module", params=KINDS)
def kit(request: pytest.FixtureRequest, report: TraceReport) -> Kit:
    kind: KeyKind = request.param
    other: KeyKind = "ecdsa-p256" if kind == "ed25519" else "ed25519"
    a, b, stranger = (load_signer(generate_private_key_pem(kind)) for _ in range(3))
    other_kind = load_signer(generate_private_key_pem(other))
    golden = json.loads(statement_bytes(statement_for(report)))
    return Kit(a, b, stranger, other_kind, golden)


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS)
def test_attack_table(kit: Kit, attack: Attack) -> None:
    data = attack.make(kit)
    if attack.expect == "parse":
        with pytest.raises(InvalidEnvelope) as caught:
            parse_envelope(data)
        assert caught.value.reason == "dsse_invalid"
        return
    envelope = parse_envelope(data)
    kwargs: dict[str, Any] = {
        "trusted": [kit.a.public_key, kit.b.public_key],
        "threshold": attack.threshold,
        "trace_sha256": TRACE_SHA256,
        "tenant": attack.tenant,
    }
    result = check_runtime_attestation(envelope, **kwargs)
    assert result.reason == attack.expect, result.message
    assert result.ok is (attack.expect is None)
    json.dumps(result.to_dict())  # plain JSON data
    if attack.expect is None:
        verified = verify_runtime_attestation(envelope, **kwargs)
        assert verified.payload == envelope.payload  # the exact signed bytes, never re-serialised
        assert verified.trace_sha256 == TRACE_SHA256
        assert kit.a.keyid in verified.keyids
    else:
        error = HashMismatch if attack.expect == "hash_mismatch" else SignatureInvalid
        with pytest.raises(error) as failed:
            verify_runtime_attestation(envelope, **kwargs)
        assert failed.value.reason == attack.expect


def test_report_details_for_a_good_attestation(kit: Kit, report: TraceReport) -> None:
    envelope = sign_runtime_trace(
        statement=statement_for(report, graph_hash=GRAPH_HASH), signers=[kit.a]
    )
    result = check_runtime_attestation(
        envelope,
        trusted=[kit.a.public_key],
        threshold=1,
        trace_sha256=TRACE_SHA256,
        tenant="acme",
    )
    assert result.ok and result.statement_verified
    assert result.envelope.keyids == (kit.a.keyid,)
    assert (result.predicate_type_ok, result.subject_match, result.tenant_ok) == (True, True, True)
    assert result.predicate_error is None and result.statement_error is None
    verified = verify_runtime_attestation(
        envelope,
        trusted=[kit.a.public_key],
        threshold=1,
        trace_sha256=TRACE_SHA256,
        tenant="acme",
    )
    assert verified.tenant == "acme"
    assert verified.graph_hash == GRAPH_HASH
    assert verified.cas_uri == f"cas://reachability/runtime/{TRACE_SHA256}"
    assert verified.statement == statement_for(report, graph_hash=GRAPH_HASH)


def test_report_of_a_failed_signature_marks_the_statement_unverified(kit: Kit) -> None:
    envelope = kit.issue(kit.stranger)
    result = check_runtime_attestation(
        envelope, trusted=[kit.a.public_key], threshold=1, trace_sha256=TRACE_SHA256, tenant="acme"
    )
    assert not result.ok and not result.statement_verified
    assert result.statement is not None  # parsed for the report only
    assert result.envelope.reason is CheckReason.THRESHOLD_NOT_MET
    assert result.envelope.signatures[0].reason is CheckReason.UNKNOWN_KEY
    assert result.to_dict()["statement_verified"] is False


def test_tenant_mismatch_and_unchecked_tenant_are_reported(kit: Kit) -> None:
    envelope = kit.issue()
    common: dict[str, Any] = {
        "trusted": [kit.a.public_key],
        "threshold": 1,
        "trace_sha256": TRACE_SHA256,
    }
    wrong = check_runtime_attestation(envelope, tenant="other", **common)
    assert wrong.tenant_ok is False and wrong.reason == "dsse_invalid"
    assert wrong.to_dict()["tenant"] == {
        "expected": "other",
        "statement": "acme",
        "checked": True,
        "ok": False,
    }
    skipped = check_runtime_attestation(envelope, tenant=None, **common)
    assert skipped.ok and skipped.tenant_ok is None
    assert skipped.to_dict()["tenant"]["checked"] is False


def test_only_the_verifier_makes_verified_attestations(kit: Kit) -> None:
    envelope = kit.issue()
    result = check_runtime_attestation(
        envelope, trusted=[kit.a.public_key], threshold=1, trace_sha256=TRACE_SHA256, tenant=None
    )
    assert result.ok and result.statement is not None
    with pytest.raises(TypeError, match="only by verify_runtime_attestation"):
        VerifiedRuntimeAttestation(
            result.statement,
            envelope.payload,
            result.envelope.keyids,
            TRACE_SHA256,
            "acme",
            None,
            f"cas://reachability/runtime/{TRACE_SHA256}",
            result,
            object(),
        )


def test_sign_runtime_trace_signs_the_statement_bytes(kit: Kit, report: TraceReport) -> None:
    statement = statement_for(report)
    envelope = sign_runtime_trace(statement=statement, signers=[kit.a, kit.b])
    assert envelope.payload == statement_bytes(statement) == GOLDEN
    assert envelope.payload_type == IN_TOTO_PAYLOAD_TYPE
    assert [s.keyid for s in envelope.signatures] == [kit.a.keyid, kit.b.keyid]
    richgraph = Statement(statement.subject, RICHGRAPH_PREDICATE, {"x": 1})
    with pytest.raises(ValueError, match="not a runtime-trace statement"):
        sign_runtime_trace(statement=richgraph, signers=[kit.a])


def test_malformed_expected_trace_digest_is_a_caller_error(kit: Kit) -> None:
    with pytest.raises(InvalidDigest):
        check_runtime_attestation(
            kit.issue(), trusted=[], threshold=1, trace_sha256="ABC", tenant=None
        )
