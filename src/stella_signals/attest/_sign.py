"""Signing DSSE envelopes, and the payload types stella-signals signs (SPEC §5, §8)."""

from __future__ import annotations

from collections.abc import Sequence

from stella_signals.attest._dsse import Envelope, EnvelopeSignature, pae
from stella_signals.attest._keys import Signer

__all__ = ["IN_TOTO_PAYLOAD_TYPE", "RECEIPT_PAYLOAD_TYPE", "SYNC_PAYLOAD_TYPE", "sign_envelope"]

#: Payload type of the service's signed ingest receipts (SPEC §8).
RECEIPT_PAYLOAD_TYPE = "application/vnd.stella.ingest-receipt+json"
#: Payload type of in-toto Statements, e.g. runtime-trace attestations (SPEC §5).
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: Payload type of an offline site's signed event batch (sync on reconnect): the payload is
#: the events as exported, one RFC 8785 event per line.
SYNC_PAYLOAD_TYPE = "application/vnd.stella.timeline-sync+ndjson"


def sign_envelope(payload: bytes, payload_type: str, signers: Sequence[Signer]) -> Envelope:
    """An envelope over exactly ``payload``, one signature per signer, in the given order."""
    if not signers:
        raise ValueError("sign_envelope needs at least one signer")
    message = pae(payload_type, payload)
    signatures = tuple(EnvelopeSignature(keyid=s.keyid, sig=s.sign(message)) for s in signers)
    return Envelope(payload=payload, payload_type=payload_type, signatures=signatures)
