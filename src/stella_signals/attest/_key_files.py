"""Key files: private keys written atomically with mode 0600, and the service key loaded from
(or created in) the data dir or ``STELLA_SERVICE_KEY_FILE`` (SPEC §13). The file side of
`_keys`, which stays free of I/O."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from stella_signals.attest._keys import (
    InvalidKey,
    ServiceKey,
    _load_private,
    generate_private_key_pem,
    load_signer,
)
from stella_signals.errors import Unavailable

__all__ = [
    "SERVICE_KEY_ENV",
    "load_or_create_service_key",
    "write_private_key",
]

#: Environment variable naming the service's private key file (SPEC §13).
SERVICE_KEY_ENV = "STELLA_SERVICE_KEY_FILE"
#: Where the service key lives under the data directory when the variable is unset.
SERVICE_KEY_PATH = Path("keys") / "service.pem"


def write_private_key(path: Path, pem: bytes) -> None:
    """Write ``pem`` to ``path`` with mode 0600, atomically; `FileExistsError` if it exists.

    The key is written to a private temporary file in the same directory and hard-linked
    into place, so ``path`` is either absent or complete, and never replaced.
    """
    _load_private(pem)  # never write something we could not load back
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file with mode 0600
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # atomic, and fails with FileExistsError instead of replacing
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def load_or_create_service_key(data_dir: Path, *, env_file: str | None) -> ServiceKey:
    """The service key: from ``env_file`` (the value of ``STELLA_SERVICE_KEY_FILE``) when
    given, else ``DATA_DIR/keys/service.pem``, generated there (Ed25519) on first use.

    Raises `Unavailable` (reason ``service_key_unavailable``) when the key cannot be read
    or is not a usable private key.
    """
    if env_file:
        return _load_service_key(Path(env_file))
    path = Path(data_dir) / SERVICE_KEY_PATH
    if not path.exists():
        _make_private_dir(path.parent)
        # Several processes may race here: the first link wins, the others load its key.
        with contextlib.suppress(FileExistsError):
            write_private_key(path, generate_private_key_pem("ed25519"))
    return _load_service_key(path)


def _load_service_key(path: Path) -> ServiceKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise Unavailable(
            f"service key {path} cannot be read: {exc.strerror or exc}",
            reason="service_key_unavailable",
        ) from exc
    try:
        signer = load_signer(pem)
    except InvalidKey as exc:
        raise Unavailable(
            f"service key {path} is not usable: {exc}", reason="service_key_unavailable"
        ) from exc
    return ServiceKey(signer=signer, source=str(path))


def _make_private_dir(directory: Path) -> None:
    existed = directory.is_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not existed:
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask


def _fsync_dir(directory: Path) -> None:
    """Make a new directory entry durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)
