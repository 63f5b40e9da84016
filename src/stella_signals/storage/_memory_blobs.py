"""An in-memory `BlobStore`: a real implementation for tests and one-shot tools.

Also home of the metering and read-verification every backend shares, so that all of them
refuse, hash and report in the same words.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Generic, Self, TypeVar

from stella_signals.cas import CasUri, Namespace
from stella_signals.digests import Algorithm, Digest, Hasher, new_hasher
from stella_signals.errors import HashMismatch, LimitExceeded, NotFound
from stella_signals.ports import StagedBlob, StoredBlob
from stella_signals.tenancy import TenantId, parse_tenant

__all__ = ["MemoryBlobStore"]

#: Size of the chunks `open` yields.
READ_CHUNK = 1024 * 1024


class StreamMeter:
    """Counts and hashes a stream: the namespace's algorithm (the address) and SHA-256."""

    def __init__(
        self, namespace: Namespace, *, max_bytes: int | None, expected_hex: str | None
    ) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        # A malformed expectation is the caller's input error; refuse it before reading.
        self._expected = None if expected_hex is None else Digest(namespace.algorithm, expected_hex)
        self._namespace = namespace
        self._max_bytes = max_bytes
        self._address: Hasher = new_hasher(namespace.algorithm)
        self._sha256: Hasher = (
            self._address
            if namespace.algorithm is Algorithm.SHA256
            else new_hasher(Algorithm.SHA256)
        )
        self.size = 0

    def add(self, chunk: bytes) -> None:
        """Account for ``chunk``; `LimitExceeded` before it is accepted if it would pass the cap."""
        size = self.size + len(chunk)
        if self._max_bytes is not None and size > self._max_bytes:
            raise LimitExceeded(
                f"blob exceeds the limit of {self._max_bytes} bytes",
                limit="max_compressed_bytes",
            )
        self.size = size
        self._address.update(chunk)
        if self._sha256 is not self._address:
            self._sha256.update(chunk)

    def finish(self) -> tuple[CasUri, str]:
        """The blob's address and SHA-256 hex; `HashMismatch` if it differs from the expected."""
        actual = Digest(self._namespace.algorithm, self._address.hexdigest())
        if self._expected is not None and actual != self._expected:
            raise HashMismatch(f"content digest mismatch: expected {self._expected}, got {actual}")
        return CasUri(self._namespace, actual), self._sha256.hexdigest()


def verifying(tenant: TenantId, uri: CasUri, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass ``chunks`` through; after the last, `HashMismatch` unless they hash to ``uri``."""
    hasher = new_hasher(uri.namespace.algorithm)
    for chunk in chunks:
        hasher.update(chunk)
        yield chunk
    actual = Digest(uri.namespace.algorithm, hasher.hexdigest())
    if actual != uri.digest:
        raise HashMismatch(
            f"stored blob {uri} of tenant {tenant} was altered: its bytes hash to {actual}"
        )


def _slices(data: bytes) -> Iterator[bytes]:
    return (data[i : i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK))


def valid_tenant(tenant: TenantId) -> TenantId:
    # TenantId is only a NewType; re-check, since stores build paths and keys from it.
    return parse_tenant(tenant)


#: What a staged blob holds until it is published or discarded (bytes, a spool file...).
Held = TypeVar("Held")


class StagedBlobBase(Generic[Held]):
    """What every backend's staged blob shares: its address, size and SHA-256, the refusal
    to use it once published or discarded, and discarding it when its ``with`` ends
    unpublished. A backend sets ``_held`` to ``None`` when it publishes or discards."""

    def __init__(self, held: Held, *, uri: CasUri, size: int, sha256: str) -> None:
        self._held: Held | None = held
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

    def _pending(self) -> Held:
        if self._held is None:
            raise RuntimeError(f"staged blob {self._uri} was already published or discarded")
        return self._held

    def _stored(self, created: bool) -> StoredBlob:
        return StoredBlob(uri=self._uri, size=self._size, sha256=self._sha256, created=created)

    def discard(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._held is not None:
            self.discard()


class _MemoryStagedBlob(StagedBlobBase[bytes]):
    def __init__(
        self, store: MemoryBlobStore, tenant: TenantId, uri: CasUri, sha256: str, data: bytes
    ) -> None:
        super().__init__(data, uri=uri, size=len(data), sha256=sha256)
        self._store = store
        self._tenant = tenant

    def read(self) -> Iterator[bytes]:
        data = self._pending()
        return _slices(data)

    def publish(self) -> StoredBlob:
        data = self._pending()
        created = self._store._publish(self._tenant, self._uri, data)
        self._held = None
        return self._stored(created)

    def discard(self) -> None:
        self._pending()
        self._held = None


class MeteredBlobStore:
    """`BlobStore.stage` and `put` for every backend: the tenant is checked and the stream
    metered here, in the same words everywhere; the backend keeps the bytes in
    `_stage_metered`."""

    def stage(
        self,
        tenant: TenantId,
        namespace: Namespace,
        chunks: Iterable[bytes],
        *,
        max_bytes: int | None = None,
        expected_hex: str | None = None,
    ) -> StagedBlob:
        tenant = valid_tenant(tenant)
        meter = StreamMeter(namespace, max_bytes=max_bytes, expected_hex=expected_hex)
        return self._stage_metered(tenant, meter, chunks)

    def _stage_metered(
        self, tenant: TenantId, meter: StreamMeter, chunks: Iterable[bytes]
    ) -> StagedBlob:
        """Keep ``chunks`` privately, passing each through ``meter`` before it is kept."""
        raise NotImplementedError

    def put(
        self,
        tenant: TenantId,
        namespace: Namespace,
        chunks: Iterable[bytes],
        *,
        max_bytes: int | None = None,
        expected_hex: str | None = None,
    ) -> StoredBlob:
        with self.stage(
            tenant, namespace, chunks, max_bytes=max_bytes, expected_hex=expected_hex
        ) as staged:
            return staged.publish()


class MemoryBlobStore(MeteredBlobStore):
    """A tenant-scoped, content-addressed, write-once blob store held in a dict."""

    def __init__(self) -> None:
        self._blobs: dict[tuple[TenantId, CasUri], bytes] = {}
        self._lock = threading.Lock()

    def _stage_metered(
        self, tenant: TenantId, meter: StreamMeter, chunks: Iterable[bytes]
    ) -> _MemoryStagedBlob:
        parts: list[bytes] = []
        for chunk in chunks:
            meter.add(chunk)
            parts.append(bytes(chunk))
        uri, sha256 = meter.finish()
        return _MemoryStagedBlob(self, tenant, uri, sha256, b"".join(parts))

    def exists(self, tenant: TenantId, uri: CasUri) -> bool:
        return (valid_tenant(tenant), uri) in self._blobs

    def iter_uris(self, tenant: TenantId, namespace: Namespace) -> Iterator[CasUri]:
        tenant = valid_tenant(tenant)
        with self._lock:
            uris = [u for (t, u) in self._blobs if t == tenant and u.namespace is namespace]
        yield from sorted(uris, key=lambda u: u.digest.hex)

    def size(self, tenant: TenantId, uri: CasUri) -> int:
        return len(self._get(tenant, uri))

    def open(self, tenant: TenantId, uri: CasUri) -> Iterator[bytes]:
        return verifying(tenant, uri, _slices(self._get(tenant, uri)))

    def corrupt(self, tenant: TenantId, uri: CasUri, data: bytes | None = None) -> None:
        """Test hook: replace a stored blob's bytes (by default, flip its last byte)."""
        old = self._get(tenant, uri)
        if data is None:
            data = old[:-1] + bytes([old[-1] ^ 0xFF]) if old else b"\x00"
        with self._lock:
            self._blobs[(tenant, uri)] = data

    def _get(self, tenant: TenantId, uri: CasUri) -> bytes:
        try:
            return self._blobs[(valid_tenant(tenant), uri)]
        except KeyError:
            raise NotFound(f"no blob {uri} for tenant {tenant}") from None

    def _publish(self, tenant: TenantId, uri: CasUri, data: bytes) -> bool:
        with self._lock:
            if (tenant, uri) in self._blobs:
                return False
            self._blobs[(tenant, uri)] = data
            return True
