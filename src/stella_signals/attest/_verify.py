"""DSSE verification, two faces: `check_envelope` reports, `verify_envelope` raises.

Every signature is tried against every trusted key (the envelope's ``keyid`` only chooses
which key to try first and how to name a failure), and the threshold counts distinct trusted
keys, so one key signing twice counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import InitVar, dataclass
from enum import StrEnum
from typing import Any

from stella_signals.attest._dsse import Envelope
from stella_signals.attest._keys import PublicKey
from stella_signals.errors import CheckFailed
from stella_signals.limits import require_count

__all__ = [
    "CheckReason",
    "EnvelopeReport",
    "SignatureCheck",
    "SignatureInvalid",
    "VerifiedPayload",
    "check_envelope",
    "verify_envelope",
]


class CheckReason(StrEnum):
    """Why a signature did not count, or why an envelope failed."""

    UNKNOWN_KEY = "unknown_key"
    """No trusted key verified it, and its keyid names no trusted key."""
    BAD_SIGNATURE = "bad_signature"
    """Its keyid names a trusted key, but no trusted key verified it."""
    PAYLOAD_TYPE_MISMATCH = "payload_type_mismatch"
    THRESHOLD_NOT_MET = "threshold_not_met"


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome for one signature, by its position in the envelope."""

    index: int
    #: The envelope's unauthenticated ``keyid`` ("" when absent).
    keyid_hint: str
    #: Keyid of the trusted key that verified the signature, if any.
    verified_by: str | None
    reason: CheckReason | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "keyid_hint": self.keyid_hint,
            "verified_by": self.verified_by,
            "reason": None if self.reason is None else self.reason.value,
        }


@dataclass(frozen=True, slots=True)
class EnvelopeReport:
    """What `check_envelope` found; ``keyids`` are the distinct trusted keys that verified."""

    ok: bool
    reason: CheckReason | None
    message: str
    payload_type: str
    expected_payload_type: str
    threshold: int
    keyids: tuple[str, ...]
    signatures: tuple[SignatureCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, for the timeline and for operators."""
        return {
            "ok": self.ok,
            "reason": None if self.reason is None else self.reason.value,
            "message": self.message,
            "payload_type": self.payload_type,
            "expected_payload_type": self.expected_payload_type,
            "threshold": self.threshold,
            "keyids": list(self.keyids),
            "signatures": [check.to_dict() for check in self.signatures],
        }


class SignatureInvalid(CheckFailed[EnvelopeReport], reason="dsse_invalid"):
    """An envelope failed verification; ``report`` says which signatures failed and why."""


_TOKEN = object()


@dataclass(frozen=True, slots=True)
class VerifiedPayload:
    """Payload bytes a threshold of trusted keys signed under ``payload_type``.

    Only `verify_envelope` makes these: the constructor refuses to run without its token.
    """

    payload: bytes
    payload_type: str
    keyids: tuple[str, ...]
    _token: InitVar[object]

    def __post_init__(self, _token: object) -> None:
        if _token is not _TOKEN:
            raise TypeError("VerifiedPayload is made only by verify_envelope()")


def check_envelope(
    envelope: Envelope,
    *,
    trusted: Sequence[PublicKey],
    payload_type: str,
    threshold: int = 1,
) -> EnvelopeReport:
    """Check ``envelope`` against ``trusted`` keys; never raises for a failed check.

    ``ok`` when the envelope's payload type is ``payload_type`` and at least ``threshold``
    distinct trusted keys verified a signature over ``PAE(payload_type, payload)``.
    """
    require_count(threshold, "threshold")
    keys: dict[str, PublicKey] = {}
    for key in trusted:
        keys.setdefault(key.keyid, key)
    message = envelope.pae()
    accepted: list[str] = []
    checks: list[SignatureCheck] = []
    for index, signature in enumerate(envelope.signatures):
        hinted = keys.get(signature.keyid)
        candidates = list(keys.values())
        if hinted is not None:  # cheapest first; the others are still tried
            candidates.remove(hinted)
            candidates.insert(0, hinted)
        verified_by = next(
            (key.keyid for key in candidates if key.verify(signature.sig, message)), None
        )
        reason: CheckReason | None = None
        if verified_by is None:
            reason = CheckReason.BAD_SIGNATURE if hinted is not None else CheckReason.UNKNOWN_KEY
        elif verified_by not in accepted:
            accepted.append(verified_by)
        checks.append(SignatureCheck(index, signature.keyid, verified_by, reason))

    if envelope.payload_type != payload_type:
        ok, reason = False, CheckReason.PAYLOAD_TYPE_MISMATCH
        text = f"payload type is {envelope.payload_type!r}, expected {payload_type!r}"
    elif len(accepted) < threshold:
        ok, reason = False, CheckReason.THRESHOLD_NOT_MET
        text = (
            f"{len(accepted)} of {threshold} required trusted key(s) signed "
            f"({len(envelope.signatures)} signature(s), {len(keys)} trusted key(s))"
        )
    else:
        ok, reason = True, None
        text = f"signed by {len(accepted)} trusted key(s): {', '.join(accepted)}"
    return EnvelopeReport(
        ok=ok,
        reason=reason,
        message=text,
        payload_type=envelope.payload_type,
        expected_payload_type=payload_type,
        threshold=threshold,
        keyids=tuple(accepted),
        signatures=tuple(checks),
    )


def verify_envelope(
    envelope: Envelope,
    *,
    trusted: Sequence[PublicKey],
    payload_type: str,
    threshold: int = 1,
) -> VerifiedPayload:
    """`check_envelope`, then the verified payload or `SignatureInvalid` carrying the report."""
    report = check_envelope(
        envelope, trusted=trusted, payload_type=payload_type, threshold=threshold
    )
    if not report.ok:
        raise SignatureInvalid(f"DSSE envelope rejected: {report.message}", report=report)
    return VerifiedPayload(envelope.payload, envelope.payload_type, report.keyids, _TOKEN)
