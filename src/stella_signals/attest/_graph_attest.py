"""DSSE attestations of static graphs: an in-toto Statement over the canonical graph bytes,
predicate ``https://stella-ops.org/attestations/richgraph/v1`` (issue 6, item 5)."""

from __future__ import annotations

from collections.abc import Sequence

from stella_signals.attest._dsse import Envelope
from stella_signals.attest._keys import PublicKey, Signer
from stella_signals.attest._sign import IN_TOTO_PAYLOAD_TYPE, sign_envelope
from stella_signals.attest._statement import (
    RICHGRAPH_PREDICATE,
    STATEMENT_TYPE,
    InvalidStatement,
    Statement,
    parse_statement,
    statement_bytes,
)
from stella_signals.attest._verify import SignatureInvalid, check_envelope
from stella_signals.canonical import canonical_json
from stella_signals.digests import Digest
from stella_signals.errors import HashMismatch

__all__ = ["graph_statement", "sign_graph", "verify_graph_attestation"]


def graph_statement(*, graph_hash: Digest, tenant: str, name: str) -> Statement:
    """Subject: the canonical graph, by its BLAKE3 graph hash; predicate: tenant and hash."""
    return parse_statement(
        canonical_json(
            {
                "_type": STATEMENT_TYPE,
                "subject": [{"name": name, "digest": {"blake3": graph_hash.hex}}],
                "predicateType": RICHGRAPH_PREDICATE,
                "predicate": {"tenant": tenant, "graph_hash": str(graph_hash)},
            }
        )
    )


def sign_graph(*, statement: Statement, signers: Sequence[Signer]) -> Envelope:
    if statement.predicate_type != RICHGRAPH_PREDICATE:
        raise ValueError(f"not a graph statement: {statement.predicate_type!r}")
    return sign_envelope(statement_bytes(statement), IN_TOTO_PAYLOAD_TYPE, signers)


def verify_graph_attestation(
    envelope: Envelope,
    *,
    trusted: Sequence[PublicKey],
    threshold: int,
    graph_hash: Digest,
    tenant: str,
) -> tuple[str, ...]:
    """The keyids that attested the graph; `SignatureInvalid` (dsse_invalid) for an untrusted,
    malformed or wrong-predicate envelope, `HashMismatch` when its subject is another graph."""
    report = check_envelope(
        envelope, trusted=trusted, payload_type=IN_TOTO_PAYLOAD_TYPE, threshold=threshold
    )
    if not report.ok:
        raise SignatureInvalid(f"graph attestation rejected: {report.message}", report=report)
    try:
        statement = parse_statement(envelope.payload)
    except InvalidStatement as exc:
        raise SignatureInvalid(f"graph attestation payload: {exc}", report=report) from None
    if statement.predicate_type != RICHGRAPH_PREDICATE:
        raise SignatureInvalid(
            f"predicate type is {statement.predicate_type!r}, expected {RICHGRAPH_PREDICATE!r}",
            report=report,
        )
    claimed_tenant = statement.predicate.get("tenant")
    if claimed_tenant is not None and claimed_tenant != tenant:
        raise SignatureInvalid(
            f"graph statement is for tenant {claimed_tenant!r}, not {tenant!r}", report=report
        )
    if graph_hash.hex not in statement.subject_digests("blake3"):
        raise HashMismatch(f"no subject of the graph attestation has blake3 {graph_hash.hex}")
    return report.keyids
