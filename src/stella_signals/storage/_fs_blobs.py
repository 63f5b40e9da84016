"""A `BlobStore` on a local filesystem: write to ``.staging/``, then hard-link into place.

Layout::

    root/.staging/<random>.part                       bytes being written (0o640)
    root/<tenant>/<namespace>/<hex[:2]>/<hex>         published blobs (0o440), never replaced

Staging sits under the same root so the link into place is atomic; ``os.link`` fails when
the target exists, so a published blob is never overwritten. A crash leaves at most files
under ``.staging/``, which `FilesystemBlobStore.sweep_staging` removes.

Every staged blob holds an exclusive ``flock`` on its ``.part`` file from creation until it
is published or discarded (or its process dies: the kernel drops the lock), so a sweep tells
a crashed upload's leftover from a live upload of any process sharing the directory — even a
stalled one — without guessing from its age. A sweep only unlinks a file while holding its
lock, and a writer checks, once locked, that its name still points at its file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import stat
import weakref
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import InsufficientStorage, InvalidCasUri, NotFound, Unavailable
from stella_signals.ports import StoredBlob
from stella_signals.storage._memory_blobs import (
    READ_CHUNK,
    MeteredBlobStore,
    StagedBlobBase,
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
_log = logging.getLogger(__name__)
#: Attempts at creating a staging file a concurrent sweep did not remove under us.
_CREATE_ATTEMPTS = 5


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


class _FsStagedBlob(StagedBlobBase[Path]):
    def __init__(
        self,
        store: FilesystemBlobStore,
        tenant: TenantId,
        path: Path,
        *,
        uri: CasUri,
        size: int,
        sha256: str,
        lock: _StagingLock,
    ) -> None:
        super().__init__(path, uri=uri, size=size, sha256=sha256)
        self._store = store
        self._tenant = tenant
        self._lock = lock

    def read(self) -> Iterator[bytes]:
        return _read_file(self._pending())

    def publish(self) -> StoredBlob:
        path = self._pending()
        with _storage_errors(f"publishing {self._uri}"):
            created = self._store._link_into_place(self._tenant, self._uri, path)
        self._held = None
        self._lock.release()
        return self._stored(created)

    def discard(self) -> None:
        path = self._pending()
        self._held = None
        _unlink_quietly(path)
        self._lock.release()


class _StagingLock:
    """The open descriptor whose ``flock`` says "a live process owns this staging file";
    closed on release, or when the owner is collected or its process ends."""

    def __init__(self, fd: int) -> None:
        self._finalizer = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        self._finalizer()


def _lock_exclusively(fd: int, *, wait: bool) -> bool:
    """``flock`` ``fd``; False when another process holds it (only when not waiting).

    A file system without locks (some network mounts) raises `OSError`."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    """``path`` still names the file open as ``fd`` (a sweep has not unlinked it)."""
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _read_file(path: Path) -> Iterator[bytes]:
    with _storage_errors(f"reading {path.name}"):
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "rb", buffering=0) as file:
            while chunk := file.read(READ_CHUNK):
                yield chunk


class FilesystemBlobStore(MeteredBlobStore):
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

    def _stage_metered(
        self, tenant: TenantId, meter: StreamMeter, chunks: Iterable[bytes]
    ) -> _FsStagedBlob:
        path, fd = self._create_staging_file()
        lock = _StagingLock(fd)
        try:
            file = os.fdopen(os.dup(fd), "wb")  # closing it keeps the lock (on ``fd``)
        except BaseException:
            lock.release()
            _unlink_quietly(path)
            raise
        try:
            with file:
                for chunk in chunks:  # the caller's errors pass through untranslated
                    meter.add(chunk)
                    with _storage_errors("writing a staging file"):
                        file.write(chunk)
                with _storage_errors("writing a staging file"):
                    file.flush()
            uri, sha256 = meter.finish()
            return _FsStagedBlob(
                self, tenant, path, uri=uri, size=meter.size, sha256=sha256, lock=lock
            )
        except BaseException:
            _unlink_quietly(path)
            lock.release()
            raise

    def _create_staging_file(self) -> tuple[Path, int]:
        """A new ``.part`` file, open for writing and locked by this process."""
        for _ in range(_CREATE_ATTEMPTS):
            path = self._staging / f"{secrets.token_hex(16)}.part"
            with _storage_errors("creating a staging file"):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, _STAGED_MODE)
            try:
                _lock_exclusively(fd, wait=True)
            except OSError as exc:  # no locks here: the sweep leaves such files alone
                _log.warning("staging file %s cannot be locked: %s", path.name, exc)
                return path, fd
            if _same_file(fd, path):
                return path, fd
            os.close(fd)  # a sweep took it between creation and lock: try another name
        raise Unavailable("blob store: creating a staging file failed: swept under us")

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
        """Remove staging files no live process owns, last written more than
        ``older_than_seconds`` before ``now``.

        A file is owned while its staged blob lives (its ``flock``; see the module
        docstring): uploads in flight in this or any other process on the directory are
        never removed, whatever their age; a crashed process's leftovers are, at once with
        an age of 0. Files on a file system without locks are left alone. Returns how many
        files were removed.
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
                    removed += self._remove_if_abandoned(Path(entry.path))
        return removed

    def _remove_if_abandoned(self, path: Path) -> int:
        """Unlink ``path`` if no process holds its lock (1), else leave it (0)."""
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return 0
        except OSError:  # not a regular file we can open (a symlink, a FIFO): not ours
            _unlink_quietly(path)
            return 1
        try:
            try:
                if not _lock_exclusively(fd, wait=False):
                    return 0  # a live upload
            except OSError as exc:
                _log.warning("staging file %s cannot be locked, left: %s", path.name, exc)
                return 0
            if not _same_file(fd, path):
                return 0
            _unlink_quietly(path)
            return 1
        finally:
            os.close(fd)

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
