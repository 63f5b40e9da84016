"""A `BlobStore` on a local filesystem: write to ``.staging/``, then hard-link into place.

Layout::

    root/.staging/<random>.part                       bytes being written (0o640)
    root/<tenant>/<namespace>/<hex[:2]>/<hex>         published blobs (0o440), never replaced

Staging sits under the same root so the link into place is atomic; ``os.link`` fails when
the target exists, so a published blob is never overwritten. A crash leaves at most files
under ``.staging/``, which `FilesystemBlobStore.sweep_staging` removes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Self

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import InsufficientStorage, InvalidCasUri, NotFound, Unavailable
from stella_signals.ports import StoredBlob
from stella_signals.storage._memory_blobs import (
    READ_CHUNK,
    PutByStaging,
    StreamMeter,
    valid_tenant,
    verifying,
)
from stella_signals.tenancy import TenantId

if TYPE_CHECKING:
    from stella_signals.ports import BlobStore

__all__ = ["FilesystemBlobStore"]

_STAGING = ".staging"
_STAGED_MODE = 0o640
_BLOB_MODE = 0o440
_DIR_MODE = 0o750
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """Our own file-system failures are `Unavailable`; a full disk `InsufficientStorage`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise InsufficientStorage(f"blob store: {action} failed: disk full") from exc
        raise Unavailable(f"blob store: {action} failed: {exc}") from exc


_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class _FsStagedBlob:
    def __init__(
        self,
        store: FilesystemBlobStore,
        tenant: TenantId,
        path: Path,
        *,
        uri: CasUri,
        size: int,
        sha256: str,
    ) -> None:
        self._store = store
        self._tenant = tenant
        self._path: Path | None = path
        self._uri = uri
        self._size = size
        self._sha256 = sha256

    @property
    def uri(self) -> CasUri:
        return self._uri

    @property
    def size(self) -> int:
        return self._size

    @property
    def sha256(self) -> str:
        return self._sha256

    def _pending(self) -> Path:
        if self._path is None:
            raise RuntimeError(f"staged blob {self._uri} was already published or discarded")
        return self._path

    def read(self) -> Iterator[bytes]:
        return _read_file(self._pending())

    def publish(self) -> StoredBlob:
        path = self._pending()
        with _storage_errors(f"publishing {self._uri}"):
            created = self._store._link_into_place(self._tenant, self._uri, path)
        self._path = None
        return StoredBlob(uri=self._uri, size=self._size, sha256=self._sha256, created=created)

    def discard(self) -> None:
        path = self._pending()
        self._path = None
        _unlink_quietly(path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._path is not None:
            self.discard()


def _read_file(path: Path) -> Iterator[bytes]:
    with _storage_errors(f"reading {path.name}"):
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "rb", buffering=0) as file:
            while chunk := file.read(READ_CHUNK):
                yield chunk


class FilesystemBlobStore(PutByStaging):
    """A tenant-scoped, content-addressed, write-once blob store under ``root``."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._staging = self._root / _STAGING
        self._staging.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    def path_of(self, tenant: TenantId, uri: CasUri) -> Path:
        """Where ``uri`` of ``tenant`` lives (or would live) on disk."""
        hex_digest = uri.digest.hex
        return self._root / valid_tenant(tenant) / uri.namespace.value / hex_digest[:2] / hex_digest

    def stage(
        self,
        tenant: TenantId,
        namespace: Namespace,
        chunks: Iterable[bytes],
        *,
        max_bytes: int | None = None,
        expected_hex: str | None = None,
    ) -> _FsStagedBlob:
        tenant = valid_tenant(tenant)
        meter = StreamMeter(namespace, max_bytes=max_bytes, expected_hex=expected_hex)
        path = self._staging / f"{secrets.token_hex(16)}.part"
        with _storage_errors("creating a staging file"):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, _STAGED_MODE)
        file = os.fdopen(fd, "wb")
        try:
            with file:
                for chunk in chunks:  # the caller's errors pass through untranslated
                    meter.add(chunk)
                    with _storage_errors("writing a staging file"):
                        file.write(chunk)
                with _storage_errors("writing a staging file"):
                    file.flush()
            uri, sha256 = meter.finish()
            return _FsStagedBlob(self, tenant, path, uri=uri, size=meter.size, sha256=sha256)
        except BaseException:
            _unlink_quietly(path)
            raise

    def exists(self, tenant: TenantId, uri: CasUri) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.path_of(tenant, uri)).st_mode)
        except FileNotFoundError:
            return False

    def iter_uris(self, tenant: TenantId, namespace: Namespace) -> Iterator[CasUri]:
        root = self._root / valid_tenant(tenant) / namespace.value
        if not root.is_dir():
            return
        for shard in sorted(p for p in root.iterdir() if p.is_dir() and len(p.name) == 2):
            for path in sorted(shard.iterdir()):
                if path.name.startswith(shard.name) and stat.S_ISREG(os.lstat(path).st_mode):
                    with contextlib.suppress(InvalidCasUri):
                        yield CasUri.of(namespace, path.name)

    def size(self, tenant: TenantId, uri: CasUri) -> int:
        return self._lstat(tenant, uri).st_size

    def open(self, tenant: TenantId, uri: CasUri) -> Iterator[bytes]:
        self._lstat(tenant, uri)  # NotFound now, not at the first chunk
        return verifying(tenant, uri, _read_file(self.path_of(tenant, uri)))

    def sweep_staging(self, older_than_seconds: float, *, now: datetime | None = None) -> int:
        """Remove staging files last written more than ``older_than_seconds`` before ``now``.

        They are left by crashes or by staged blobs never published nor discarded; keep the
        age well above the longest upload. Returns how many files were removed.
        """
        if older_than_seconds < 0:
            raise ValueError(f"older_than_seconds must be >= 0, got {older_than_seconds}")
        cutoff = (now if now is not None else datetime.now(UTC)).timestamp() - older_than_seconds
        removed = 0
        with os.scandir(self._staging) as entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if info.st_mtime < cutoff and not stat.S_ISDIR(info.st_mode):
                    _unlink_quietly(Path(entry.path))
                    removed += 1
        return removed

    def _lstat(self, tenant: TenantId, uri: CasUri) -> os.stat_result:
        try:
            info = os.lstat(self.path_of(tenant, uri))
        except FileNotFoundError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            raise NotFound(f"no blob {uri} for tenant {tenant}")
        return info

    def _link_into_place(self, tenant: TenantId, uri: CasUri, staged: Path) -> bool:
        """Make ``staged`` durable and visible at its address; False if one was already there."""
        fd = os.open(staged, os.O_RDONLY | _NOFOLLOW)
        try:
            os.fchmod(fd, _BLOB_MODE)
            os.fsync(fd)
        finally:
            os.close(fd)
        target = self.path_of(tenant, uri)
        self._make_dirs(target.parent)
        try:
            os.link(staged, target)
        except FileExistsError:
            created = False
        else:
            created = True
            _fsync_dir(target.parent)
        _unlink_quietly(staged)
        return created

    def _make_dirs(self, directory: Path) -> None:
        """Create ``directory`` below root, fsyncing each parent that gains an entry."""
        missing: list[Path] = []
        while directory != self._root and not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            try:
                path.mkdir(mode=_DIR_MODE)
            except FileExistsError:
                continue
            _fsync_dir(path.parent)


if TYPE_CHECKING:

    def _conforms(store: FilesystemBlobStore) -> BlobStore:
        return store
