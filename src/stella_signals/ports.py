"""Ports: the protocols services depend on. Adapters in ``storage/`` implement them.

Every method takes the tenant explicitly; implementations must keep tenants apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from stella_signals.cas import CasUri, Namespace
from stella_signals.tenancy import TenantId

__all__ = ["BlobStore", "StagedBlob", "StoredBlob"]


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob as the store holds it: its address, size and SHA-256 of its bytes."""

    uri: CasUri
    size: int
    sha256: str
    #: False when an identical blob was already there (dedup), True when this put wrote it.
    created: bool


class StagedBlob(Protocol):
    """Bytes written and hashed, not yet visible. Publish or discard, exactly once.

    Use as a context manager: leaving the block without `publish` discards the bytes.
    """

    @property
    def uri(self) -> CasUri: ...

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...

    def read(self) -> Iterator[bytes]:
        """Stream the staged bytes back (e.g. to parse them after hashing)."""
        ...

    def publish(self) -> StoredBlob:
        """Make the blob visible under its digest; a no-op copy if it already exists."""
        ...

    def discard(self) -> None: ...

    def __enter__(self) -> StagedBlob: ...

    def __exit__(self, *exc_info: object) -> None: ...


class BlobStore(Protocol):
    """A tenant-scoped, content-addressed, write-once blob store."""

    def stage(
        self,
        tenant: TenantId,
        namespace: Namespace,
        chunks: Iterable[bytes],
        *,
        max_bytes: int | None = None,
        expected_hex: str | None = None,
    ) -> StagedBlob:
        """Write ``chunks`` to a private staging area while hashing and counting.

        Raises `LimitExceeded` (limit ``max_compressed_bytes``) past ``max_bytes`` without
        keeping anything, and `HashMismatch` when ``expected_hex`` is given and differs.
        """
        ...

    def put(
        self,
        tenant: TenantId,
        namespace: Namespace,
        chunks: Iterable[bytes],
        *,
        max_bytes: int | None = None,
        expected_hex: str | None = None,
    ) -> StoredBlob:
        """`stage` then `publish`."""
        ...

    def exists(self, tenant: TenantId, uri: CasUri) -> bool: ...

    def size(self, tenant: TenantId, uri: CasUri) -> int:
        """Size in bytes; `NotFound` when absent for this tenant."""
        ...

    def open(self, tenant: TenantId, uri: CasUri) -> Iterator[bytes]:
        """Stream the blob, verifying its digest; `HashMismatch` at the end if it was altered,
        `NotFound` when absent for this tenant."""
        ...
