"""Keys: PEM handling, securesystemslib keyids, private key files and the service key."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from stella_signals.attest import (
    RECEIPT_PAYLOAD_TYPE,
    SERVICE_KEY_ENV,
    InvalidKey,
    KeyKind,
    generate_private_key_pem,
    load_or_create_service_key,
    load_public_key,
    load_signer,
    public_key_pem,
    sign_envelope,
    verify_envelope,
    write_private_key,
)
from stella_signals.errors import InvalidInput, Unavailable

KINDS: list[KeyKind] = ["ed25519", "ecdsa-p256"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def olpc_canonical(value: str | dict[str, Any]) -> str:
    """OLPC canonical JSON, as securesystemslib writes it: sorted keys, no spaces, and
    only ``\\`` and ``"`` escaped in strings (a PEM's newlines stay raw)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    items = (f"{olpc_canonical(k)}:{olpc_canonical(v)}" for k, v in sorted(value.items()))
    return "{" + ",".join(items) + "}"


def sslib_keyid(keytype: str, scheme: str, public: str) -> str:
    """securesystemslib's default keyid, computed independently: SHA-256 of the OLPC
    canonical JSON of {keytype, scheme, keyval}."""
    document = {"keytype": keytype, "keyval": {"public": public}, "scheme": scheme}
    return hashlib.sha256(olpc_canonical(document).encode()).hexdigest()


def pkcs8(key: Any, *, password: bytes | None = None) -> bytes:
    encryption = BestAvailableEncryption(password) if password else NoEncryption()
    pem: bytes = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    return pem


def spki(key: Any) -> bytes:
    pem: bytes = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return pem


# --- generation and loading -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_generated_key_is_unencrypted_pkcs8_pem(kind: KeyKind) -> None:
    pem = generate_private_key_pem(kind)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = load_pem_private_key(pem, password=None)
    expected = ed25519.Ed25519PrivateKey if kind == "ed25519" else ec.EllipticCurvePrivateKey
    assert isinstance(key, expected)
    assert generate_private_key_pem(kind) != pem


def test_default_kind_is_ed25519() -> None:
    assert load_signer(generate_private_key_pem()).public_key.kind == "ed25519"


def test_unknown_kind_is_refused() -> None:
    kind: Any = "rsa"
    with pytest.raises(ValueError, match="unknown key kind"):
        generate_private_key_pem(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_public_key_matches_signer(kind: KeyKind) -> None:
    private = generate_private_key_pem(kind)
    public = public_key_pem(private)
    assert public.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    signer = load_signer(private)
    key = load_public_key(public)
    assert key == signer.public_key
    assert key.keyid == signer.keyid
    assert key.kind == kind
    assert key.pem == public
    signature = signer.sign(b"data")
    assert key.verify(signature, b"data")


def test_ed25519_keyid_is_what_securesystemslib_computes() -> None:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    expected = sslib_keyid("ed25519", "ed25519", raw)
    assert load_signer(pkcs8(private)).keyid == expected
    assert load_public_key(spki(private)).keyid == expected


def test_ecdsa_p256_keyid_is_what_securesystemslib_computes() -> None:
    private = ec.derive_private_key(12345, ec.SECP256R1())
    expected = sslib_keyid("ecdsa", "ecdsa-sha2-nistp256", spki(private).decode())
    assert load_signer(pkcs8(private)).keyid == expected
    assert load_public_key(spki(private)).keyid == expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "sig",
    [b"", b"\x00" * 64, b"\xff" * 72, b"0\x06\x02\x01\x01\x02\x01\x01", b"x" * 10_000],
    ids=["empty", "zeros", "ones", "tiny-der", "huge"],
)
def test_verify_answers_false_and_never_raises(kind: KeyKind, sig: bytes) -> None:
    key = load_signer(generate_private_key_pem(kind)).public_key
    assert key.verify(sig, b"data") is False


def test_verify_rejects_another_keys_signature() -> None:
    a, b = (load_signer(generate_private_key_pem()) for _ in range(2))
    assert not b.public_key.verify(a.sign(b"data"), b"data")


def test_signer_repr_shows_no_secret() -> None:
    private = generate_private_key_pem()
    signer = load_signer(private)
    assert signer.keyid in repr(signer)
    assert "PRIVATE" not in repr(signer)


BAD_PRIVATE: dict[str, bytes] = {
    "garbage": b"not a key",
    "empty": b"",
    "public-key": spki(ed25519.Ed25519PrivateKey.generate()),
    "encrypted": pkcs8(ed25519.Ed25519PrivateKey.generate(), password=b"secret"),
    "rsa": pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "p384": pkcs8(ec.generate_private_key(ec.SECP384R1())),
    "oversize": b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 70_000,
}


@pytest.mark.parametrize("pem", BAD_PRIVATE.values(), ids=BAD_PRIVATE.keys())
def test_load_signer_refuses(pem: bytes) -> None:
    with pytest.raises(InvalidKey) as caught:
        load_signer(pem)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.reason == "invalid_key"
    with pytest.raises(InvalidKey):
        public_key_pem(pem)


BAD_PUBLIC: dict[str, bytes] = {
    "garbage": b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    "private-key": generate_private_key_pem(),
    "rsa": spki(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "p521": spki(ec.generate_private_key(ec.SECP521R1())),
    "oversize": b"-----BEGIN PUBLIC KEY-----\n" + b"A" * 70_000,
}


@pytest.mark.parametrize("pem", BAD_PUBLIC.values(), ids=BAD_PUBLIC.keys())
def test_load_public_key_refuses(pem: bytes) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(pem)


# --- private key files ----------------------------------------------------------------------


def test_write_private_key_is_0600_and_complete(tmp_path: Path) -> None:
    pem = generate_private_key_pem()
    path = tmp_path / "key.pem"
    write_private_key(path, pem)
    assert path.read_bytes() == pem
    assert mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]  # no temporary left


def test_write_private_key_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    first = generate_private_key_pem()
    write_private_key(path, first)
    with pytest.raises(FileExistsError):
        write_private_key(path, generate_private_key_pem())
    assert path.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]


def test_write_private_key_refuses_what_it_could_not_load(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        write_private_key(tmp_path / "key.pem", b"junk")
    assert list(tmp_path.iterdir()) == []


# --- the service key ------------------------------------------------------------------------


def test_service_key_is_created_once_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_or_create_service_key(data_dir, env_file=None)
    path = data_dir / "keys" / "service.pem"
    assert first.source == str(path)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert first.public_key.kind == "ed25519"
    content = path.read_bytes()

    second = load_or_create_service_key(data_dir, env_file=None)
    assert second.keyid == first.keyid
    assert second.public_pem == first.public_pem
    assert path.read_bytes() == content
    assert load_public_key(first.public_pem).keyid == first.keyid


def test_service_key_signs_receipts_a_verifier_accepts(tmp_path: Path) -> None:
    service = load_or_create_service_key(tmp_path, env_file=None)
    envelope = sign_envelope(b'{"schema":"receipt"}', RECEIPT_PAYLOAD_TYPE, [service.signer])
    assert envelope.signatures[0].keyid == service.keyid
    verified = verify_envelope(
        envelope,
        trusted=[load_public_key(service.public_pem)],
        payload_type=RECEIPT_PAYLOAD_TYPE,
    )
    assert verified.keyids == (service.keyid,)


def test_service_key_file_variable_is_honoured(tmp_path: Path) -> None:
    assert SERVICE_KEY_ENV == "STELLA_SERVICE_KEY_FILE"
    key_file = tmp_path / "elsewhere" / "service.pem"
    key_file.parent.mkdir()
    pem = generate_private_key_pem("ecdsa-p256")
    write_private_key(key_file, pem)
    data_dir = tmp_path / "data"

    service = load_or_create_service_key(data_dir, env_file=str(key_file))
    assert service.source == str(key_file)
    assert service.keyid == load_signer(pem).keyid
    assert service.public_key.kind == "ecdsa-p256"
    assert not data_dir.exists()  # nothing generated when the operator names a key


def test_an_existing_service_key_is_kept_even_when_not_ours(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    pem = generate_private_key_pem("ecdsa-p256")
    write_private_key(keys / "service.pem", pem)
    assert load_or_create_service_key(tmp_path, env_file=None).keyid == load_signer(pem).keyid


def test_missing_service_key_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as caught:
        load_or_create_service_key(tmp_path, env_file=str(tmp_path / "absent.pem"))
    assert caught.value.reason == "service_key_unavailable"
    assert "absent.pem" in str(caught.value)


def test_corrupt_service_key_is_unavailable(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "service.pem").write_bytes(b"corrupt")
    with pytest.raises(Unavailable, match="not usable"):
        load_or_create_service_key(tmp_path, env_file=None)
    assert (keys / "service.pem").read_bytes() == b"corrupt"  # never replaced


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_service_key_mode_ignores_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        service = load_or_create_service_key(tmp_path / "data", env_file=None)
    finally:
        os.umask(old)
    assert mode(Path(service.source)) == 0o600
    assert mode(Path(service.source).parent) == 0o700
