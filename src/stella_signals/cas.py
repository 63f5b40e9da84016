"""Content-addressed store addresses: namespaces and ``cas://`` URIs (SPEC §1).

A blob lives at ``cas://<namespace>/<hex>`` where the namespace fixes the digest algorithm.
Tenancy is not part of the URI: every store call names the tenant separately, and the same
URI under two tenants is two different, invisible-to-each-other objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stella_signals.digests import Algorithm, Digest
from stella_signals.errors import InvalidCasUri, InvalidDigest

__all__ = ["CasUri", "Namespace", "parse_cas_uri"]

_SCHEME = "cas://"


class Namespace(StrEnum):
    """The CAS namespaces of SPEC §1; the value is the URI path before the digest."""

    RUNTIME = "reachability/runtime"
    GRAPHS = "reachability/graphs"
    SYMBOLS = "reachability/symbols"
    ATTESTATIONS = "reachability/attestations"
    PROBE_MANIFESTS = "reachability/probe-manifests"
    #: Vulnerability catalogs (SPEC §15), canonical bytes; evaluations as computed; VEX
    #: documents (their DSSE envelopes go to ``reachability/attestations``).
    CATALOGS = "reachability/catalogs"
    EVALUATIONS = "reachability/evaluations"
    VEX = "reachability/vex"
    RECEIPTS = "evidence/receipts"

    @property
    def algorithm(self) -> Algorithm:
        return Algorithm.BLAKE3 if self is Namespace.GRAPHS else Algorithm.SHA256

    @classmethod
    def parse(cls, text: str) -> Namespace:
        try:
            return cls(text.strip("/"))
        except ValueError:
            known = ", ".join(n.value for n in cls)
            raise InvalidCasUri(f"unknown CAS namespace {text!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class CasUri:
    namespace: Namespace
    digest: Digest

    def __post_init__(self) -> None:
        if self.digest.algorithm is not self.namespace.algorithm:
            raise InvalidCasUri(
                f"namespace {self.namespace} holds {self.namespace.algorithm} digests, "
                f"not {self.digest.algorithm}"
            )

    @classmethod
    def of(cls, namespace: Namespace, hex_digest: str) -> CasUri:
        try:
            return cls(namespace, Digest(namespace.algorithm, hex_digest))
        except InvalidDigest as exc:
            raise InvalidCasUri(f"invalid digest for {namespace}: {exc}") from None

    def __str__(self) -> str:
        return f"{_SCHEME}{self.namespace.value}/{self.digest.hex}"


def parse_cas_uri(text: str) -> CasUri:
    """``cas://reachability/runtime/<sha256hex>`` → `CasUri`; anything else is refused."""
    if not isinstance(text, str) or not text.startswith(_SCHEME):
        raise InvalidCasUri(f"not a cas:// URI: {text!r}")
    path = text[len(_SCHEME) :]
    namespace_text, sep, hex_digest = path.rpartition("/")
    if not sep:
        raise InvalidCasUri(f"cas:// URI has no digest: {text!r}")
    return CasUri.of(Namespace.parse(namespace_text), hex_digest)
