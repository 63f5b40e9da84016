"""The blob-store contract on S3 (a real SeaweedFS), plus S3-specific behaviour."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import obstore
import pytest
from obstore.store import S3Store

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import (
    Conflict,
    HashMismatch,
    InvalidInput,
    NotFound,
    Unavailable,
)
from stella_signals.ports import BlobStore
from stella_signals.storage import S3BlobStore, S3Location, parse_cas_url
from stella_signals.tenancy import TenantId
from tests.realservers.seaweed import SeaweedServer

from .blobstore_contract import ACME, GLOBEX, BlobStoreContract, MiB, read_all, runtime_uri

#: Fail fast in tests: outages are provoked on purpose.
FAST_RETRY: Any = {"max_retries": 1, "retry_timeout": timedelta(seconds=5)}
FAST_CLIENT: Any = {"connect_timeout": timedelta(seconds=2)}


def make_store(
    server: SeaweedServer,
    spool: Path,
    *,
    prefix: str | None = None,
    secret_key: str | None = None,
    **options: Any,
) -> S3BlobStore:
    """A store on a fresh prefix of the test bucket, so tests never see each other's blobs."""
    prefix = prefix or f"t-{secrets.token_hex(6)}/cas"
    url = f"s3://{server.bucket}/{prefix}?endpoint_url={server.endpoint_url}&region=us-east-1"
    return S3BlobStore(
        parse_cas_url(url),
        access_key_id=server.access_key,
        secret_access_key=server.secret_key if secret_key is None else secret_key,
        staging_dir=spool,
        retry_config=FAST_RETRY,
        client_options=FAST_CLIENT,
        **options,
    )


def keys_under(server: SeaweedServer, prefix: str) -> set[str]:
    return {meta["path"] for batch in obstore.list(server.client(), prefix) for meta in batch}


def overwrite(raw: S3Store, key: str, data: bytes | None = None) -> None:
    """Replace an object's bytes behind the store's back (by default, flip its last byte)."""
    if data is None:
        old = bytes(obstore.get(raw, key).bytes())
        data = old[:-1] + bytes([old[-1] ^ 0xFF]) if old else b"\x00"
    obstore.put(raw, key, data, mode="overwrite")


@pytest.fixture
def server(seaweed: SeaweedServer) -> SeaweedServer:
    """The session's SeaweedFS (the ``seaweed`` fixture of `tests.realservers.fixtures`)."""
    if not seaweed.running:  # an outage test failed before restarting it
        seaweed.start()
    return seaweed


@pytest.fixture
def s3(server: SeaweedServer, tmp_path: Path) -> S3BlobStore:
    return make_store(server, tmp_path / "spool")


class TestS3BlobStore(BlobStoreContract):
    """Twice: blobs up to 8 MiB as one conditional PUT, and every blob through the
    multipart upload + conditional server-side copy used for big blobs."""

    @pytest.fixture(params=["single-put", "staged-copy"])
    def store(
        self, request: pytest.FixtureRequest, server: SeaweedServer, tmp_path: Path
    ) -> BlobStore:
        self.raw = server.client()
        if request.param == "single-put":
            return make_store(server, tmp_path / "spool")
        return make_store(server, tmp_path / "spool", single_put_max_bytes=0)

    def corrupt(self, store: BlobStore, tenant: TenantId, uri: CasUri) -> None:
        assert isinstance(store, S3BlobStore)
        overwrite(self.raw, store.key_of(tenant, uri))


# --- layout and tenancy --------------------------------------------------------------------


def test_object_keys_are_prefix_tenant_namespace_hex(server: SeaweedServer, tmp_path: Path) -> None:
    prefix = f"t-{secrets.token_hex(6)}/cas"
    store = make_store(server, tmp_path / "spool", prefix=prefix)
    trace = store.put(ACME, Namespace.RUNTIME, [b"acme trace"])
    graph = store.put(GLOBEX, Namespace.GRAPHS, [b"globex graph"])
    big = store.put(ACME, Namespace.SYMBOLS, [b"s" * (9 * MiB)])  # staged upload + copy
    assert keys_under(server, prefix.split("/")[0] + "/") == {
        f"{prefix}/acme/reachability/runtime/{trace.uri.digest.hex}",
        f"{prefix}/globex/reachability/graphs/{graph.uri.digest.hex}",
        f"{prefix}/acme/reachability/symbols/{big.uri.digest.hex}",
    }
    assert (
        store.key_of(ACME, trace.uri)
        == f"{prefix}/acme/reachability/runtime/{trace.uri.digest.hex}"
    )


def test_same_digest_under_two_tenants_is_two_objects(
    s3: S3BlobStore, server: SeaweedServer
) -> None:
    blob = s3.put(ACME, Namespace.RUNTIME, [b"shared"])
    s3.put(GLOBEX, Namespace.RUNTIME, [b"shared"])
    overwrite(server.client(), s3.key_of(GLOBEX, blob.uri))
    assert read_all(s3, ACME, blob.uri) == b"shared"  # acme's object is untouched
    with pytest.raises(HashMismatch):
        read_all(s3, GLOBEX, blob.uri)


def test_iter_uris_lists_one_tenant_and_namespace(s3: S3BlobStore) -> None:
    uris = sorted((s3.put(ACME, Namespace.RUNTIME, [bytes([i])]).uri for i in range(3)), key=str)
    s3.put(GLOBEX, Namespace.RUNTIME, [b"other tenant"])
    s3.put(ACME, Namespace.SYMBOLS, [b"other namespace"])
    assert list(s3.iter_uris(ACME, Namespace.RUNTIME)) == uris
    assert list(s3.iter_uris(GLOBEX, Namespace.GRAPHS)) == []


# --- behind the store's back ---------------------------------------------------------------


def test_blob_deleted_behind_its_back_is_not_found(s3: S3BlobStore, server: SeaweedServer) -> None:
    blob = s3.put(ACME, Namespace.RUNTIME, [b"short-lived"])
    obstore.delete(server.client(), s3.key_of(ACME, blob.uri))
    assert not s3.exists(ACME, blob.uri)
    with pytest.raises(NotFound):
        s3.size(ACME, blob.uri)
    with pytest.raises(NotFound):
        s3.open(ACME, blob.uri)
    assert s3.put(ACME, Namespace.RUNTIME, [b"short-lived"]).created is True  # can be restored


def test_blob_overwritten_behind_its_back_fails_on_read_and_on_put(
    s3: S3BlobStore, server: SeaweedServer
) -> None:
    data = b"original evidence"
    blob = s3.put(ACME, Namespace.RUNTIME, [data])
    key = s3.key_of(ACME, blob.uri)
    overwrite(server.client(), key, b"forged")
    assert s3.size(ACME, blob.uri) == len(b"forged")
    with pytest.raises(HashMismatch, match=str(blob.uri)):
        read_all(s3, ACME, blob.uri)
    with pytest.raises(Conflict, match="altered"):  # never overwritten, never taken as a copy
        s3.put(ACME, Namespace.RUNTIME, [data])
    assert bytes(obstore.get(server.client(), key).bytes()) == b"forged"


# --- create-only -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1000, 9 * MiB], ids=["single-put", "staged-copy"])
def test_concurrent_publishers_of_the_same_bytes_never_error(
    server: SeaweedServer, tmp_path: Path, size: int
) -> None:
    store = make_store(server, tmp_path / "spool")
    data = hashlib.sha256(str(size).encode()).digest() * (size // 32)
    barrier = threading.Barrier(4)

    def publish(_: int) -> bool:
        with store.stage(ACME, Namespace.RUNTIME, [data]) as staged:
            barrier.wait()
            return staged.publish().created

    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(publish, range(4)))
    assert sorted(created) == [False, False, False, True]
    assert read_all(store, ACME, runtime_uri(data)) == data
    prefix = store.location.prefix
    assert keys_under(server, prefix + "/") == {store.key_of(ACME, runtime_uri(data))}


def test_staged_blob_reaches_the_bucket_only_on_publish(
    s3: S3BlobStore, server: SeaweedServer
) -> None:
    with s3.stage(ACME, Namespace.RUNTIME, [b"p" * (9 * MiB)]) as staged:
        assert keys_under(server, s3.location.prefix + "/") == set()
        staged.publish()
    assert keys_under(server, s3.location.prefix + "/") == {s3.key_of(ACME, staged.uri)}


# --- big blobs ---------------------------------------------------------------------------


class _RssPeak:
    """Highest resident set size seen while the block runs, sampled every few milliseconds."""

    def __init__(self) -> None:
        self.start = self.peak = self._rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096

    def _sample(self) -> None:
        while not self._done.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> _RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_big_blob_goes_multipart_in_bounded_memory(server: SeaweedServer, tmp_path: Path) -> None:
    store = make_store(server, tmp_path / "spool", part_size=5 * MiB, max_concurrency=2)
    size = 40 * MiB
    expected = hashlib.sha256()

    def chunks() -> Iterator[bytes]:  # generated on the fly: the blob never exists in memory
        for i in range(size // MiB):
            chunk = hashlib.sha256(i.to_bytes(4, "big")).digest() * (MiB // 32)
            expected.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        with _RssPeak() as rss:
            blob = store.put(ACME, Namespace.RUNTIME, chunks())
            read = hashlib.sha256()
            for chunk in store.open(ACME, blob.uri):
                assert len(chunk) <= MiB
                read.update(chunk)
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == size
    assert blob.sha256 == expected.hexdigest() == read.hexdigest()
    # A part being assembled plus the chunks in hand (measured 7-9 MB; the bound is what
    # matters, not the exact figure), never the 40 MiB blob.
    assert python_peak < 2 * 5 * MiB, python_peak
    assert rss.growth < size // 2, rss.growth  # parts in flight, not the blob
    meta = obstore.head(server.client(), store.key_of(ACME, blob.uri))
    assert meta["size"] == size
    assert "-" in (meta["e_tag"] or "")  # completed as a multipart upload (the conditional copy)
    assert keys_under(server, store.location.prefix + "/") == {store.key_of(ACME, blob.uri)}
    assert list((tmp_path / "spool" / ".staging").iterdir()) == []


def test_sweep_staging_removes_old_leftovers(s3: S3BlobStore, server: SeaweedServer) -> None:
    leftover = f"{s3.location.prefix}/.staging/{secrets.token_hex(16)}"
    obstore.put(server.client(), leftover, b"crashed upload")
    s3.stage(ACME, Namespace.RUNTIME, [b"abandoned spool"])  # never closed
    now = datetime.now(UTC)
    assert s3.sweep_staging(3600, now=now) == 0
    assert s3.sweep_staging(3600, now=now + timedelta(hours=2)) == 2
    assert keys_under(server, s3.location.prefix + "/") == set()


# --- refusals and outages ----------------------------------------------------------------


def test_wrong_secret_is_refused_and_does_not_look_like_not_found(
    server: SeaweedServer, tmp_path: Path, s3: S3BlobStore
) -> None:
    blob = s3.put(ACME, Namespace.RUNTIME, [b"kept safe"])
    prefix = s3.location.prefix
    wrong_secret = secrets.token_urlsafe(30)
    wrong = make_store(server, tmp_path / "spool2", prefix=prefix, secret_key=wrong_secret)
    calls = {
        "put": lambda: wrong.put(ACME, Namespace.RUNTIME, [b"intruder"]),
        "exists": lambda: wrong.exists(ACME, blob.uri),
        "size": lambda: wrong.size(ACME, blob.uri),
        "open": lambda: wrong.open(ACME, blob.uri),
        "absent": lambda: wrong.exists(ACME, runtime_uri(b"absent")),
    }
    for name, call in calls.items():
        with pytest.raises(Unavailable) as caught:
            call()
        assert caught.value.reason == "storage_auth_failed", name
        assert "credentials" in str(caught.value)
        assert wrong_secret not in str(caught.value)
    assert keys_under(server, prefix + "/") == {s3.key_of(ACME, blob.uri)}


def test_server_down_is_unavailable_and_the_store_recovers(
    server: SeaweedServer, s3: S3BlobStore
) -> None:
    before = s3.put(ACME, Namespace.RUNTIME, [b"written before the outage"])
    server.stop()
    try:
        started = time.monotonic()
        for name, call in {
            "put": lambda: s3.put(ACME, Namespace.RUNTIME, [b"during the outage"]),
            "big put": lambda: s3.put(ACME, Namespace.RUNTIME, [b"b" * (9 * MiB)]),
            "open": lambda: s3.open(ACME, before.uri),
            "exists": lambda: s3.exists(ACME, before.uri),
            "size": lambda: s3.size(ACME, before.uri),
        }.items():
            with pytest.raises(Unavailable) as caught:
                call()
            assert caught.value.reason == "unavailable", name
        assert time.monotonic() - started < 15  # fails fast: no minutes of retries
    finally:
        server.start()
    assert read_all(s3, ACME, before.uri) == b"written before the outage"
    assert s3.put(ACME, Namespace.RUNTIME, [b"during the outage"]).created is True


def test_from_url_takes_credentials_from_the_environment(
    server: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    url = f"s3://{server.bucket}/t-{secrets.token_hex(6)}?endpoint_url={server.endpoint_url}"
    store = S3BlobStore.from_url(url, staging_dir=tmp_path / "spool")
    blob = store.put(ACME, Namespace.RUNTIME, [b"from the environment"])
    assert read_all(store, ACME, blob.uri) == b"from the environment"

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    refused = S3BlobStore.from_url(url, staging_dir=tmp_path / "spool")
    with pytest.raises(Unavailable) as caught:
        refused.exists(ACME, blob.uri)
    assert caught.value.reason == "storage_auth_failed"


def test_partial_credentials_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        S3BlobStore(S3Location("bucket"), access_key_id="AK", staging_dir=tmp_path)
    assert caught.value.reason == "config_invalid"


# --- CAS URLs ----------------------------------------------------------------------------

GOOD_URLS = [
    (
        "s3://stella/cas?endpoint_url=http://127.0.0.1:8333&region=us-east-1",
        S3Location("stella", "cas", "http://127.0.0.1:8333", "us-east-1"),
    ),
    ("s3://stella", S3Location("stella")),
    ("s3://stella/", S3Location("stella")),
    ("s3://my.bucket-1/a/b_c/d.e/", S3Location("my.bucket-1", "a/b_c/d.e")),
    ("s3://stella/p?region=eu-west-1", S3Location("stella", "p", region="eu-west-1")),
    (
        "s3://stella?endpoint_url=https%3A%2F%2Fs3.example.com",
        S3Location("stella", endpoint_url="https://s3.example.com"),
    ),
    (
        "s3://stella?endpoint_url=http://[::1]:9000/",
        S3Location("stella", endpoint_url="http://[::1]:9000"),
    ),
]

BAD_URLS = [
    ("https://stella/cas", "s3://"),
    ("stella/cas", "s3://"),
    ("s3://", "bucket"),
    ("s3://ab", "bucket"),
    ("s3://Stella/cas", "bucket"),
    ("s3://key:secret@stella/cas", "credentials"),
    ("s3://stella:9000/cas", "bucket"),
    ("s3://stella/cas?endpoint=http://x", "'endpoint'"),
    ("s3://stella/cas?allow_http=true", "'allow_http'"),
    ("s3://stella/cas?region=a&region=b", "repeats"),
    ("s3://stella/cas?endpoint_url=ftp://host", "endpoint_url"),
    ("s3://stella/cas?endpoint_url=http://", "endpoint_url"),
    ("s3://stella/cas?endpoint_url=http://h/path", "endpoint_url"),
    ("s3://stella/cas?endpoint_url=http://u:p@h", "endpoint_url"),
    ("s3://stella/cas?endpoint_url=http://h:99999", "endpoint_url"),
    ("s3://stella/cas?region=US_EAST", "region"),
    ("s3://stella/a//b", "prefix"),
    ("s3://stella/../b", "prefix"),
    ("s3://stella/.staging", "prefix"),
    ("s3://stella/a b", "prefix"),
    ("s3://stella/cas#frag", "fragment"),
    ("s3://stella/cas?flag", "query"),
]


@pytest.mark.parametrize(("url", "expected"), GOOD_URLS, ids=[u for u, _ in GOOD_URLS])
def test_parse_cas_url(url: str, expected: S3Location) -> None:
    location = parse_cas_url(url)
    assert location == expected
    assert parse_cas_url(str(location)) == location


@pytest.mark.parametrize(("url", "named"), BAD_URLS, ids=[u for u, _ in BAD_URLS])
def test_parse_cas_url_refuses(url: str, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cas_url(url)
    assert caught.value.reason == "config_invalid"
    assert named in str(caught.value)


def test_location_keys() -> None:
    assert (
        S3Location("b").key("acme", "reachability/runtime", "ab") == "acme/reachability/runtime/ab"
    )
    assert S3Location("b", "p/q").key("acme") == "p/q/acme"
