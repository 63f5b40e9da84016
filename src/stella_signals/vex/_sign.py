"""VEX documents signed by the service key as DSSE envelopes, and their offline check.

Signing reuses the receipts' machinery (`attest.sign_envelope`): the payload is the exact
document bytes, never re-serialised. `verify_vex` checks an envelope against one pinned public
key and, when the document travelled beside it, that the document is the signed payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from stella_signals.attest import (
    CheckReason,
    EnvelopeReport,
    PublicKey,
    SignatureInvalid,
    Signer,
    check_envelope,
    parse_envelope,
    sign_envelope,
)
from stella_signals.digests import sha256_hex
from stella_signals.errors import HashMismatch, InvalidInput
from stella_signals.strictjson import loads_strict

__all__ = [
    "CYCLONEDX_PAYLOAD_TYPE",
    "OPENVEX_PAYLOAD_TYPE",
    "InvalidVex",
    "VerifiedVex",
    "VexFormat",
    "sign_vex",
    "verify_vex",
]

#: DSSE payload types, which are also the documents' media types.
OPENVEX_PAYLOAD_TYPE = "application/openvex+json"
CYCLONEDX_PAYLOAD_TYPE = "application/vnd.cyclonedx+json"


class VexFormat(StrEnum):
    OPENVEX = "openvex"
    CYCLONEDX = "cyclonedx"

    @property
    def payload_type(self) -> str:
        """The DSSE payload type and HTTP media type of documents of this format."""
        return OPENVEX_PAYLOAD_TYPE if self is VexFormat.OPENVEX else CYCLONEDX_PAYLOAD_TYPE

    @classmethod
    def of_payload_type(cls, payload_type: str) -> VexFormat | None:
        return next((f for f in cls if f.payload_type == payload_type), None)


class InvalidVex(InvalidInput):
    """A signed payload that is not a VEX document of its declared format."""

    default_reason = "vex_invalid"


def sign_vex(document: bytes, fmt: VexFormat, signer: Signer) -> bytes:
    """The DSSE envelope (RFC 8785 JSON) of ``document`` signed by ``signer`` (the service
    key), with ``fmt``'s payload type."""
    return sign_envelope(document, VexFormat(fmt).payload_type, [signer]).to_json()


@dataclass(frozen=True, slots=True)
class VerifiedVex:
    """A VEX document the pinned key signed."""

    format: VexFormat
    document: bytes
    #: ``sha256:`` of the document bytes.
    digest: str
    keyids: tuple[str, ...]
    report: EnvelopeReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "format": self.format.value,
            "payload_type": self.format.payload_type,
            "document_sha256": self.digest,
            "keyids": list(self.keyids),
            "envelope": self.report.to_dict(),
        }


def verify_vex(envelope: bytes, *, key: PublicKey, document: bytes | None = None) -> VerifiedVex:
    """The document ``envelope`` carries, once ``key`` is shown to have signed it.

    Raises, by fault: `InvalidEnvelope` (not a DSSE envelope); `SignatureInvalid` with reason
    ``payload_type_mismatch`` (not a VEX payload type), ``unknown_key`` (signed by another key)
    or ``bad_signature`` (the key's signature does not cover these bytes: payload modified);
    `HashMismatch` (reason ``vex_document_mismatch``) when ``document`` is given and is not
    the signed payload byte for byte; `InvalidVex` when the signed payload is not a document
    of its format.
    """
    parsed = parse_envelope(envelope)
    fmt = VexFormat.of_payload_type(parsed.payload_type)
    if fmt is None:
        raise SignatureInvalid(
            f"payload type {parsed.payload_type!r} is not a VEX document "
            f"({OPENVEX_PAYLOAD_TYPE!r} or {CYCLONEDX_PAYLOAD_TYPE!r})",
            reason="payload_type_mismatch",
        )
    report = check_envelope(parsed, trusted=[key], payload_type=fmt.payload_type)
    if not report.ok:
        raise SignatureInvalid(
            f"VEX envelope rejected: {report.message}", report=report, reason=_why(report)
        )
    digest = "sha256:" + sha256_hex(parsed.payload)
    if document is not None and document != parsed.payload:
        raise HashMismatch(
            f"the document (sha256:{sha256_hex(document)}, {len(document)} bytes) is not the "
            f"signed payload ({digest}, {len(parsed.payload)} bytes)",
            reason="vex_document_mismatch",
        )
    _check_document(parsed.payload, fmt)
    return VerifiedVex(fmt, parsed.payload, digest, report.keyids, report)


def _why(report: EnvelopeReport) -> str:
    """With one pinned key the threshold fails for one of two reasons: a signature names the
    key but does not verify (the bytes changed: ``bad_signature``), or none names it
    (``unknown_key``: another key signed)."""
    reasons = {check.reason for check in report.signatures}
    if CheckReason.BAD_SIGNATURE in reasons:
        return CheckReason.BAD_SIGNATURE.value
    return CheckReason.UNKNOWN_KEY.value


def _check_document(payload: bytes, fmt: VexFormat) -> None:
    try:
        document = loads_strict(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidVex(f"signed payload is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidVex("signed payload is not a JSON object")
    if fmt is VexFormat.OPENVEX:
        context = document.get("@context")
        if not isinstance(context, str) or not context.startswith("https://openvex.dev/ns"):
            raise InvalidVex(f"@context: {context!r} is not an OpenVEX context")
    elif document.get("bomFormat") != "CycloneDX":
        raise InvalidVex(f"bomFormat: {document.get('bomFormat')!r}, expected 'CycloneDX'")
