"""The `BlobStore` contract: every backend must pass this suite unchanged.

Subclass `BlobStoreContract` in a ``Test...`` class, override the `store` fixture and
`corrupt`, and pytest collects every case below for that backend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import blake3
import pytest

from stella_signals.cas import CasUri, Namespace
from stella_signals.digests import Algorithm
from stella_signals.errors import (
    HashMismatch,
    InvalidDigest,
    InvalidTenant,
    LimitExceeded,
    NotFound,
)
from stella_signals.ports import BlobStore
from stella_signals.tenancy import TenantId, parse_tenant

ACME = parse_tenant("acme")
GLOBEX = parse_tenant("globex")
MiB = 1024 * 1024


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def read_all(store: BlobStore, tenant: TenantId, uri: CasUri) -> bytes:
    return b"".join(store.open(tenant, uri))


def runtime_uri(data: bytes) -> CasUri:
    return CasUri.of(Namespace.RUNTIME, hashlib.sha256(data).hexdigest())


class CountingChunks:
    """An iterable of chunks that records how many were pulled."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.pulled += 1
            yield chunk


class BlobStoreContract:
    """Cases any `BlobStore` passes. Subclasses supply `store` and `corrupt`."""

    @pytest.fixture
    def store(self) -> BlobStore:
        raise NotImplementedError("backend test classes override the `store` fixture")

    def corrupt(self, store: BlobStore, tenant: TenantId, uri: CasUri) -> None:
        """Alter the stored bytes of ``uri`` behind the store's back."""
        raise NotImplementedError

    # --- writing and reading -------------------------------------------------------------

    def test_put_then_open_round_trips(self, store: BlobStore) -> None:
        data = bytes(range(256)) * (10 * 1024 + 7)  # ~2.5 MiB: several read chunks
        blob = store.put(ACME, Namespace.RUNTIME, chunked(data, 64 * 1024))
        assert blob.created is True
        assert blob.size == len(data)
        assert blob.uri == runtime_uri(data)
        assert store.exists(ACME, blob.uri)
        assert store.size(ACME, blob.uri) == len(data)
        chunks = list(store.open(ACME, blob.uri))
        assert b"".join(chunks) == data
        assert max(len(c) for c in chunks) <= MiB

    def test_second_put_of_same_bytes_deduplicates(self, store: BlobStore) -> None:
        first = store.put(ACME, Namespace.RUNTIME, [b"same bytes"])
        second = store.put(ACME, Namespace.RUNTIME, [b"same ", b"bytes"])
        assert first.created is True
        assert second.created is False
        assert (second.uri, second.size, second.sha256) == (first.uri, first.size, first.sha256)
        assert read_all(store, ACME, first.uri) == b"same bytes"

    @pytest.mark.parametrize(
        "namespace",
        [ns for ns in Namespace if ns.algorithm is Algorithm.SHA256],
        ids=str,
    )
    def test_sha256_namespaces_are_addressed_by_sha256(
        self, store: BlobStore, namespace: Namespace
    ) -> None:
        data = b'{"symbol_id":"sym:c:abc","count":1}\n' * 100
        blob = store.put(ACME, namespace, [data])
        expected = hashlib.sha256(data).hexdigest()
        assert blob.sha256 == expected
        assert blob.uri == CasUri.of(namespace, expected)
        assert str(blob.uri) == f"cas://{namespace.value}/{expected}"

    def test_graphs_are_addressed_by_blake3_and_still_report_sha256(self, store: BlobStore) -> None:
        data = b'{"schema":"richgraph-v1","nodes":[],"edges":[],"roots":[]}'
        blob = store.put(ACME, Namespace.GRAPHS, [data])
        assert blob.uri.digest.algorithm is Algorithm.BLAKE3
        assert blob.uri.digest.hex == blake3.blake3(data).hexdigest()
        assert blob.sha256 == hashlib.sha256(data).hexdigest()
        assert read_all(store, ACME, blob.uri) == data

    def test_empty_blob(self, store: BlobStore) -> None:
        blob = store.put(ACME, Namespace.RUNTIME, [])
        assert blob.size == 0
        assert blob.sha256 == hashlib.sha256(b"").hexdigest()
        assert store.size(ACME, blob.uri) == 0
        assert read_all(store, ACME, blob.uri) == b""
        assert store.put(ACME, Namespace.RUNTIME, [b"", b""]).created is False

    @pytest.mark.parametrize("chunk_size", [1, 7, 4096, 10**9])
    def test_chunking_does_not_change_the_digest(self, store: BlobStore, chunk_size: int) -> None:
        data = hashlib.sha256(b"seed").digest() * 500
        with store.stage(ACME, Namespace.GRAPHS, chunked(data, chunk_size)) as staged:
            assert staged.uri.digest.hex == blake3.blake3(data).hexdigest()
            assert staged.sha256 == hashlib.sha256(data).hexdigest()
            assert staged.size == len(data)

    def test_same_hex_in_another_namespace_is_another_blob(self, store: BlobStore) -> None:
        blob = store.put(ACME, Namespace.RUNTIME, [b"trace"])
        other = CasUri.of(Namespace.SYMBOLS, blob.uri.digest.hex)
        assert not store.exists(ACME, other)
        with pytest.raises(NotFound):
            store.open(ACME, other)

    # --- staging -------------------------------------------------------------------------

    def test_staged_blob_is_invisible_until_published(self, store: BlobStore) -> None:
        data = b"x" * 1000
        with store.stage(ACME, Namespace.RUNTIME, chunked(data, 100)) as staged:
            assert staged.uri == runtime_uri(data)
            assert staged.size == len(data)
            assert b"".join(staged.read()) == data
            assert b"".join(staged.read()) == data  # readable more than once
            assert not store.exists(ACME, staged.uri)
            blob = staged.publish()
        assert blob.created is True
        assert store.exists(ACME, blob.uri)

    def test_discard_keeps_nothing(self, store: BlobStore) -> None:
        staged = store.stage(ACME, Namespace.RUNTIME, [b"discard me"])
        staged.discard()
        assert not store.exists(ACME, staged.uri)
        with pytest.raises(RuntimeError):
            staged.discard()
        with pytest.raises(RuntimeError):
            staged.publish()
        with pytest.raises(RuntimeError):
            staged.read()

    def test_publish_twice_is_a_bug(self, store: BlobStore) -> None:
        staged = store.stage(ACME, Namespace.RUNTIME, [b"once"])
        staged.publish()
        with pytest.raises(RuntimeError):
            staged.publish()
        with pytest.raises(RuntimeError):
            staged.discard()
        assert store.exists(ACME, staged.uri)

    def test_leaving_the_block_without_publish_discards(self, store: BlobStore) -> None:
        with store.stage(ACME, Namespace.RUNTIME, [b"left behind"]) as staged:
            pass
        assert not store.exists(ACME, staged.uri)
        with pytest.raises(RuntimeError):
            staged.publish()

    def test_an_error_in_the_block_discards_and_propagates(self, store: BlobStore) -> None:
        with (
            pytest.raises(ZeroDivisionError),
            store.stage(ACME, Namespace.RUNTIME, [b"doomed"]) as staged,
        ):
            1 / 0  # noqa: B018
        assert not store.exists(ACME, staged.uri)

    def test_an_error_from_the_chunks_propagates_and_keeps_nothing(self, store: BlobStore) -> None:
        def broken() -> Iterator[bytes]:
            yield b"partial"
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            store.stage(ACME, Namespace.RUNTIME, broken())
        assert not store.exists(ACME, runtime_uri(b"partial"))

    # --- refusals ------------------------------------------------------------------------

    def test_expected_digest_that_matches_is_accepted(self, store: BlobStore) -> None:
        data = b"declared"
        blob = store.put(
            ACME, Namespace.RUNTIME, [data], expected_hex=hashlib.sha256(data).hexdigest()
        )
        assert blob.created is True
        graph = store.put(
            ACME, Namespace.GRAPHS, [data], expected_hex=blake3.blake3(data).hexdigest()
        )
        assert graph.created is True

    def test_expected_digest_mismatch_is_refused_and_keeps_nothing(self, store: BlobStore) -> None:
        data = b"actual bytes"
        declared = hashlib.sha256(b"other bytes").hexdigest()
        with pytest.raises(HashMismatch) as caught:
            store.put(ACME, Namespace.RUNTIME, [data], expected_hex=declared)
        assert declared in str(caught.value)
        assert hashlib.sha256(data).hexdigest() in str(caught.value)
        assert caught.value.reason == "hash_mismatch"
        assert not store.exists(ACME, runtime_uri(data))
        assert not store.exists(ACME, CasUri.of(Namespace.RUNTIME, declared))

    def test_graphs_expect_a_blake3_digest(self, store: BlobStore) -> None:
        data = b"graph"
        with pytest.raises(HashMismatch):
            store.put(ACME, Namespace.GRAPHS, [data], expected_hex=hashlib.sha256(data).hexdigest())

    def test_malformed_expected_digest_is_refused_before_reading(self, store: BlobStore) -> None:
        chunks = CountingChunks([b"a", b"b"])
        with pytest.raises(InvalidDigest):
            store.put(ACME, Namespace.RUNTIME, chunks, expected_hex="ABC")
        assert chunks.pulled == 0

    def test_oversize_is_refused_without_reading_further(self, store: BlobStore) -> None:
        chunks = CountingChunks([b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 10])
        with pytest.raises(LimitExceeded) as caught:
            store.put(ACME, Namespace.RUNTIME, chunks, max_bytes=25)
        assert caught.value.limit == "max_compressed_bytes"
        assert caught.value.reason == "too_large"
        assert chunks.pulled == 3
        for prefix in (b"a" * 10, b"a" * 10 + b"b" * 10, b"a" * 10 + b"b" * 10 + b"c" * 10):
            assert not store.exists(ACME, runtime_uri(prefix))

    def test_exactly_max_bytes_is_accepted(self, store: BlobStore) -> None:
        blob = store.put(ACME, Namespace.RUNTIME, [b"12345", b"67890"], max_bytes=10)
        assert blob.size == 10
        with pytest.raises(LimitExceeded):
            store.put(ACME, Namespace.RUNTIME, [b"12345", b"678901"], max_bytes=10)

    def test_negative_max_bytes_is_a_bug(self, store: BlobStore) -> None:
        with pytest.raises(ValueError, match="max_bytes"):
            store.put(ACME, Namespace.RUNTIME, [b"x"], max_bytes=-1)

    def test_invalid_tenant_is_refused(self, store: BlobStore) -> None:
        forged = TenantId("../escape")
        with pytest.raises(InvalidTenant):
            store.put(forged, Namespace.RUNTIME, [b"x"])
        with pytest.raises(InvalidTenant):
            store.exists(forged, runtime_uri(b"x"))

    # --- not found and tenancy -----------------------------------------------------------

    def test_absent_blob_is_not_found(self, store: BlobStore) -> None:
        uri = runtime_uri(b"never stored")
        assert not store.exists(ACME, uri)
        with pytest.raises(NotFound):
            store.size(ACME, uri)
        with pytest.raises(NotFound):
            store.open(ACME, uri)  # raised by the call, not at the first chunk

    def test_tenants_cannot_see_each_other(self, store: BlobStore) -> None:
        acme = store.put(ACME, Namespace.RUNTIME, [b"acme's trace"])
        globex = store.put(GLOBEX, Namespace.GRAPHS, [b"globex's graph"])
        for tenant, uri in ((GLOBEX, acme.uri), (ACME, globex.uri)):
            assert not store.exists(tenant, uri)
            with pytest.raises(NotFound):
                store.size(tenant, uri)
            with pytest.raises(NotFound):
                store.open(tenant, uri)

    def test_same_bytes_under_two_tenants_are_two_blobs(self, store: BlobStore) -> None:
        assert store.put(ACME, Namespace.RUNTIME, [b"shared"]).created is True
        assert store.put(GLOBEX, Namespace.RUNTIME, [b"shared"]).created is True

    # --- integrity -----------------------------------------------------------------------

    @pytest.mark.parametrize("namespace", [Namespace.RUNTIME, Namespace.GRAPHS], ids=str)
    def test_altered_blob_fails_verification_on_read(
        self, store: BlobStore, namespace: Namespace
    ) -> None:
        data = b"evidence" * (MiB // 4)  # two read chunks
        blob = store.put(ACME, namespace, [data])
        self.corrupt(store, ACME, blob.uri)
        with pytest.raises(HashMismatch) as caught:
            read_all(store, ACME, blob.uri)
        assert str(blob.uri) in str(caught.value)

    def test_altered_empty_blob_fails_verification(self, store: BlobStore) -> None:
        blob = store.put(ACME, Namespace.RUNTIME, [])
        self.corrupt(store, ACME, blob.uri)
        with pytest.raises(HashMismatch):
            read_all(store, ACME, blob.uri)
