"""DSSE envelopes, signing keys and signature verification (SPEC §5, §8, §13).

Untrusted envelopes enter through `parse_envelope`; payload bytes leave as trusted data only
inside a `VerifiedPayload`, which only `verify_envelope` can make.
"""

from stella_signals.attest._dsse import (
    MAX_SIGNATURES,
    Envelope,
    EnvelopeSignature,
    InvalidEnvelope,
    pae,
    parse_envelope,
)
from stella_signals.attest._keys import (
    SERVICE_KEY_ENV,
    InvalidKey,
    KeyKind,
    PublicKey,
    ServiceKey,
    Signer,
    generate_private_key_pem,
    load_or_create_service_key,
    load_public_key,
    load_signer,
    public_key_pem,
    write_private_key,
)
from stella_signals.attest._sign import IN_TOTO_PAYLOAD_TYPE, RECEIPT_PAYLOAD_TYPE, sign_envelope
from stella_signals.attest._verify import (
    CheckReason,
    EnvelopeReport,
    SignatureCheck,
    SignatureInvalid,
    VerifiedPayload,
    check_envelope,
    verify_envelope,
)

__all__ = [
    "IN_TOTO_PAYLOAD_TYPE",
    "MAX_SIGNATURES",
    "RECEIPT_PAYLOAD_TYPE",
    "SERVICE_KEY_ENV",
    "CheckReason",
    "Envelope",
    "EnvelopeReport",
    "EnvelopeSignature",
    "InvalidEnvelope",
    "InvalidKey",
    "KeyKind",
    "PublicKey",
    "ServiceKey",
    "SignatureCheck",
    "SignatureInvalid",
    "Signer",
    "VerifiedPayload",
    "check_envelope",
    "generate_private_key_pem",
    "load_or_create_service_key",
    "load_public_key",
    "load_signer",
    "pae",
    "parse_envelope",
    "public_key_pem",
    "sign_envelope",
    "verify_envelope",
    "write_private_key",
]
