"""Optional DSSE signing of each window's trace with a probe key (``--sign-key``, SPEC §5).

The envelope is the one ``stella attest runtime --key`` makes: an in-toto Statement v1 whose
subject is the trace file by its SHA-256, predicate type
``https://stella-ops.org/attestations/runtime-trace/v1``, signed over DSSE's PAE with payload
type ``application/vnd.in-toto+json``; the keyid is securesystemslib's (SHA-256 of the OLPC
canonical JSON of ``{keytype, scheme, keyval}``). Only Ed25519 and ECDSA P-256 keys, as the
server accepts. Public-key crypto needs ``cryptography`` (``pip install 'stella-probe[sign]'``),
imported only here and only when a key is given: the unsigned probe stays standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from stella_probe._config import ConfigError

__all__ = [
    "IN_TOTO_PAYLOAD_TYPE",
    "RUNTIME_TRACE_PREDICATE",
    "SigningFailed",
    "WindowSigner",
    "load_signer",
    "runtime_statement",
]

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
RUNTIME_TRACE_PREDICATE = "https://stella-ops.org/attestations/runtime-trace/v1"

_MAX_PEM_BYTES = 64 * 1024
_TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_BLAKE3 = re.compile(r"(?:blake3:)?([0-9a-f]{64})")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d{6})Z")


class SigningFailed(Exception):
    """Signing a window failed at run time: the window is dropped and counted."""


def _canonical(value: Any) -> bytes:
    """RFC 8785 bytes of the statement/envelope data the probe makes: sorted keys, no spaces,
    ASCII strings without control characters and non-negative integers only, for which
    RFC 8785 and ``json.dumps`` agree byte for byte."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def _olpc_canonical(value: Any) -> str:
    """securesystemslib's ``encode_canonical`` (OLPC canonical JSON) for the flat key
    description it hashes into a keyid: only ``\\`` and ``"`` are escaped."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        items = (f"{_olpc_canonical(k)}:{_olpc_canonical(value[k])}" for k in sorted(value))
        return "{" + ",".join(items) + "}"
    raise TypeError(f"not part of a key description: {type(value).__name__}")


def _utc(timestamp: str) -> str:
    """The probe's ``...SS.ffffffZ`` as the server formats it (``format_utc``): microseconds
    only when not zero."""
    match = _TIMESTAMP.fullmatch(timestamp)
    if match is None:  # pragma: no cover - the probe writes only this form
        raise SigningFailed(f"timestamp {timestamp!r} is not the probe's RFC 3339 form")
    return timestamp[:19] + "Z" if match.group(1) == "000000" else timestamp


def graph_digest(graph_hash: str) -> str:
    """``blake3:<hex>`` for the predicate; ConfigError for anything but a BLAKE3 graph hash."""
    match = _BLAKE3.fullmatch(graph_hash)
    if match is None:
        raise ConfigError(
            f"graph_hash: {graph_hash!r} is not blake3:<64 lowercase hex> (a signed statement "
            "names its graph by BLAKE3 hash)"
        )
    return "blake3:" + match.group(1)


def runtime_statement(
    *,
    file_name: str,
    trace_sha256: str,
    records: list[dict[str, Any]],
    tenant: str,
    graph_hash: str,
) -> bytes:
    """The RFC 8785 bytes of the SPEC §5 statement about a trace of ``records`` (the same
    bytes the server's ``runtime_trace_statement`` makes from the parsed trace)."""
    if not records:
        raise SigningFailed("an empty window has no trace to attest")
    stamps = sorted(r["timestamp"] for r in records)  # one fixed-width UTC form: sorts by time
    predicate: dict[str, Any] = {
        "tenant": tenant,
        "cas_uri": f"cas://reachability/runtime/{trace_sha256}",
        "records": len(records),
        "unique_symbols": len({r["symbol_id"] for r in records}),
        "first_seen": _utc(stamps[0]),
        "last_seen": _utc(stamps[-1]),
    }
    if graph_hash:
        predicate["graph_hash"] = graph_digest(graph_hash)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": file_name, "digest": {"sha256": trace_sha256}}],
        "predicateType": RUNTIME_TRACE_PREDICATE,
        "predicate": predicate,
    }
    return _canonical(statement)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


class WindowSigner:
    """Signs window traces with one private key; ``keyid`` is what the server computes."""

    def __init__(self, private_key: Any, keyid: str, sign: Any) -> None:
        self._key = private_key
        self.keyid = keyid
        self._sign = sign

    def envelope(self, payload: bytes) -> bytes:
        """The DSSE envelope (canonical JSON, as ``Envelope.to_json``) over ``payload`` (the
        bytes of `runtime_statement`). Raises `SigningFailed`."""
        try:
            sig = self._sign(pae(IN_TOTO_PAYLOAD_TYPE, payload))
        except Exception as exc:
            raise SigningFailed(f"signing failed: {type(exc).__name__}: {exc}") from None
        return _canonical(
            {
                "payload": base64.b64encode(payload).decode("ascii"),
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "signatures": [{"keyid": self.keyid, "sig": base64.b64encode(sig).decode("ascii")}],
            }
        )


def check_tenant(tenant: str) -> None:
    if not _TENANT.fullmatch(tenant):
        raise ConfigError(f"tenant: {tenant!r} is not a tenant id ([a-z0-9][a-z0-9-]{{0,62}})")


def load_signer(path: str) -> WindowSigner:
    """The signer of an unencrypted Ed25519 or ECDSA P-256 private key PEM; `ConfigError`
    (the probe does not start) for a missing ``cryptography``, an unreadable file, an
    encrypted key, a public key, or another key type."""
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_private_key,
        )
    except ImportError as exc:
        raise ConfigError(
            f"sign_key: signing needs the 'cryptography' package ({exc}); install the probe "
            "with it: pip install 'stella-probe[sign]'"
        ) from None
    try:
        with open(path, "rb") as handle:
            pem = handle.read(_MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"sign_key: {path}: cannot read: {exc.strerror or exc}") from None
    if len(pem) > _MAX_PEM_BYTES:
        raise ConfigError(f"sign_key: {path}: larger than {_MAX_PEM_BYTES} bytes; not a key")
    if b"-----BEGIN PUBLIC KEY-----" in pem and b"PRIVATE KEY-----" not in pem:
        raise ConfigError(
            f"sign_key: {path}: this is a public key; signing needs the private key PEM "
            "(the server trusts its public half: signals keys add)"
        )
    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:
        raise ConfigError(
            f"sign_key: {path}: the private key is encrypted; give an unencrypted PKCS#8 PEM "
            "(the probe runs unattended: protect the file by its permissions)"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"sign_key: {path}: not a PEM private key: {exc}") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        keytype, scheme = "ed25519", "ed25519"
        sign: Any = key.sign
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        public = (
            key.public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )
        keytype, scheme = "ecdsa", "ecdsa-sha2-nistp256"
        ecdsa = ec.ECDSA(hashes.SHA256())

        def sign(data: bytes) -> bytes:
            return key.sign(data, ecdsa)

    else:
        curve = getattr(getattr(key, "curve", None), "name", None)
        kind = f"ECDSA {curve}" if curve else type(key).__name__
        raise ConfigError(
            f"sign_key: {path}: unsupported key type {kind}; the server accepts Ed25519 or "
            "ECDSA P-256 keys (stella keys generate)"
        )
    description = {"keytype": keytype, "scheme": scheme, "keyval": {"public": public}}
    keyid = hashlib.sha256(_olpc_canonical(description).encode("utf-8")).hexdigest()
    return WindowSigner(key, keyid, sign)
