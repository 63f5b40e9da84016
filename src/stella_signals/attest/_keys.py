"""Signing keys: PEM bytes, securesystemslib signers and keyids, the service key (SPEC §5, §13).

Only Ed25519 and ECDSA P-256 keys are accepted. A keyid is what securesystemslib computes for
an `SSlibKey`: the SHA-256 hex of the canonical JSON of ``{keytype, scheme, keyval}``.
Errors of pyca/cryptography and securesystemslib are translated here and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    EllipticCurvePrivateKey,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from securesystemslib.exceptions import UnverifiedSignatureError

# securesystemslib.signer re-exports these without ``__all__``, which --strict's
# no_implicit_reexport rejects; they are its documented public API.
from securesystemslib.signer import (  # type: ignore[attr-defined]
    CryptoSigner,
    Signature,
    SSlibKey,
)
from securesystemslib.signer import Signer as SslibSigner  # type: ignore[attr-defined]

from stella_signals.errors import InvalidInput, Unavailable

__all__ = [
    "InvalidKey",
    "KeyKind",
    "PublicKey",
    "ServiceKey",
    "Signer",
    "generate_private_key_pem",
    "load_public_key",
    "load_public_keys",
    "load_signer",
    "public_key_pem",
]

KeyKind = Literal["ed25519", "ecdsa-p256"]

_MAX_PEM_BYTES = 64 * 1024
#: One PEM block (RFC 7468): its label and its whole text, delimiters included.
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


class InvalidKey(InvalidInput):
    """A key file is not an unencrypted Ed25519 or ECDSA P-256 PEM key of the expected kind."""

    default_reason = "invalid_key"


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A trusted-key candidate; equal when keyids are equal. Build with `load_public_key`."""

    keyid: str
    kind: KeyKind
    #: SubjectPublicKeyInfo PEM, as re-serialised by pyca/cryptography.
    pem: bytes = field(repr=False, compare=False)
    _sslib: SSlibKey = field(repr=False, compare=False)

    def verify(self, sig: bytes, data: bytes) -> bool:
        """True when ``sig`` is this key's signature over ``data``; never raises for a bad one."""
        try:
            # securesystemslib refuses a Signature whose keyid differs from the key's own, so
            # the envelope's keyid hint is never passed in: the key's id is used instead.
            self._sslib.verify_signature(Signature(self.keyid, sig.hex()), data)
        except UnverifiedSignatureError:  # also its subclass VerificationError
            return False
        return True


class Signer:
    """Signs bytes with one private key; ``keyid`` is the securesystemslib keyid.

    Build with `load_signer`; the constructor wraps any securesystemslib signer (file, HSM,
    cloud KMS) together with its public key.
    """

    __slots__ = ("_inner", "_public_key")

    def __init__(self, inner: SslibSigner, public_key: PublicKey) -> None:
        self._inner = inner
        self._public_key = public_key

    @property
    def keyid(self) -> str:
        return self._public_key.keyid

    @property
    def public_key(self) -> PublicKey:
        return self._public_key

    def sign(self, data: bytes) -> bytes:
        """The raw signature over ``data`` (Ed25519: 64 bytes; ECDSA: DER, SHA-256)."""
        return bytes.fromhex(self._inner.sign(data).signature)

    def __repr__(self) -> str:
        return f"Signer(keyid={self.keyid!r}, kind={self._public_key.kind!r})"


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """The key the service signs receipts with, and where it came from (a file's path, or
    ``database`` on a scale-out deployment)."""

    signer: Signer
    source: str

    @property
    def keyid(self) -> str:
        return self.signer.keyid

    @property
    def public_pem(self) -> bytes:
        return self.signer.public_key.pem

    @property
    def public_key(self) -> PublicKey:
        return self.signer.public_key


def generate_private_key_pem(kind: KeyKind = "ed25519") -> bytes:
    """A new private key as unencrypted PKCS#8 PEM."""
    if kind == "ed25519":
        return CryptoSigner.generate_ed25519().private_bytes
    if kind == "ecdsa-p256":
        return CryptoSigner.generate_ecdsa().private_bytes  # P-256 is its default scheme
    raise ValueError(f"unknown key kind {kind!r}; expected 'ed25519' or 'ecdsa-p256'")


def public_key_pem(private_pem: bytes) -> bytes:
    """The SubjectPublicKeyInfo PEM of a private key PEM."""
    return _spki_pem(_load_private(private_pem).public_key())


def load_signer(private_pem: bytes) -> Signer:
    """A `Signer` for an unencrypted Ed25519 or ECDSA P-256 private key PEM."""
    private_key = _load_private(private_pem)
    public_key = _public_key(private_key.public_key())
    return Signer(CryptoSigner(private_key, public_key._sslib), public_key)


def load_public_key(pem: bytes) -> PublicKey:
    """A `PublicKey` for an Ed25519 or ECDSA P-256 SubjectPublicKeyInfo PEM."""
    if len(pem) > _MAX_PEM_BYTES:
        raise InvalidKey(f"public key PEM is larger than {_MAX_PEM_BYTES} bytes")
    _refuse_private(pem)
    try:
        key = load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"not a PEM public key: {exc}") from None
    _check_kind(key)
    return _public_key(key)


def load_public_keys(pem: bytes) -> list[PublicKey]:
    """Every key of a PEM file holding one or more public keys (e.g. a deployment's current
    and retired service keys, as `signals keys export-service` writes them), in file order,
    each once. Text around the blocks is ignored; a private key anywhere is refused."""
    if len(pem) > _MAX_PEM_BYTES:
        raise InvalidKey(f"public key PEM is larger than {_MAX_PEM_BYTES} bytes")
    _refuse_private(pem)
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(pem)]
    if not blocks:
        raise InvalidKey("no PEM public key found (expected -----BEGIN PUBLIC KEY-----)")
    keys: dict[str, PublicKey] = {}
    for number, block in enumerate(blocks, start=1):
        try:
            key = load_public_key(block)
        except InvalidKey as exc:
            if len(blocks) == 1:
                raise
            raise InvalidKey(f"PEM block {number} of {len(blocks)}: {exc}") from None
        keys.setdefault(key.keyid, key)
    return list(keys.values())


def _refuse_private(pem: bytes) -> None:
    """A one-line refusal for the commonest mistake: the private half where the public one
    is expected (trusting it would also mean copying a secret around)."""
    if re.search(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----", pem):
        raise InvalidKey(
            "this is a private key: give its public half (key.pub.pem, or the output of "
            "`signals keys export-service` for a deployment's service key)",
            reason="private_key_given",
        )


def service_key_from_pem(pem: bytes, *, source: str) -> ServiceKey:
    """The service key kept in the database (scale-out: one key for every server)."""
    try:
        return ServiceKey(signer=load_signer(pem), source=source)
    except InvalidKey as exc:
        raise Unavailable(
            f"service key from {source} is not usable: {exc}", reason="service_key_unavailable"
        ) from exc


def new_service_key_pem() -> tuple[str, bytes, bytes]:
    """(keyid, public PEM, private PEM) of a fresh Ed25519 service key."""
    private_pem = generate_private_key_pem("ed25519")
    signer = load_signer(private_pem)
    return signer.keyid, signer.public_key.pem, private_pem


def _load_private(pem: bytes) -> PrivateKeyTypes:
    if len(pem) > _MAX_PEM_BYTES:
        raise InvalidKey(f"private key PEM is larger than {_MAX_PEM_BYTES} bytes")
    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:
        # pyca/cryptography reports an encrypted key with no password as a TypeError.
        raise InvalidKey(
            "private key is encrypted; an unencrypted PKCS#8 PEM is required"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"not a PEM private key: {exc}") from None
    _check_kind(key)
    return key


def _check_kind(key: PrivateKeyTypes | PublicKeyTypes) -> None:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return
    if isinstance(key, EllipticCurvePrivateKey | EllipticCurvePublicKey):
        if isinstance(key.curve, SECP256R1):
            return
        raise InvalidKey(f"unsupported ECDSA curve {key.curve.name}; only P-256 is accepted")
    raise InvalidKey(f"unsupported key type {type(key).__name__}; use Ed25519 or ECDSA P-256")


def _public_key(key: PublicKeyTypes) -> PublicKey:
    """Wrap a checked pyca public key; securesystemslib computes its default keyid."""
    sslib = SSlibKey.from_crypto(key)
    kind: KeyKind = "ed25519" if isinstance(key, Ed25519PublicKey) else "ecdsa-p256"
    return PublicKey(keyid=sslib.keyid, kind=kind, pem=_spki_pem(key), _sslib=sslib)


def _spki_pem(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
