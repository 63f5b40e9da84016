"""A `BlobStore` on an S3-compatible bucket (AWS S3, SeaweedFS, MinIO...) through obstore.

Object keys (SPEC §13)::

    <prefix>/<tenant>/<namespace>/<hex>     published blobs, never overwritten
    <prefix>/.staging/<random>              big uploads on their way to their key

A tenant id starts with a letter or digit, so ``.staging`` can never be a tenant.

**Staging** is local: `S3BlobStore.stage` streams the chunks into a spool file (a
`FilesystemBlobStore` staging area under ``staging_dir``) while hashing, counting and
enforcing ``max_bytes``/``expected_hex`` exactly like the filesystem store, so memory stays
bounded and nothing reaches the bucket before the digest is known and accepted. The default
``staging_dir`` is a fresh temporary directory; a service should give one on a real disk (a
tmpfs ``/tmp`` would hold every spooled body in RAM).

**Publishing is create-only** and nothing partial is ever visible under a blob's key:

* up to ``single_put_max_bytes`` (8 MiB): one ``PUT`` with ``If-None-Match: *``
  (obstore ``put(mode="create")``). obstore sends a conditional put only as a single request
  and builds its body in memory, hence the bound.
* above it: a streamed multipart upload (``part_size`` parts, ``max_concurrency`` in flight;
  about ``max_concurrency + 1`` parts are in memory at once: 5 MiB parts, the S3 minimum, keep
  that at 25 MiB, where 8 MiB parts made the 10 M-record ingest's server peak 15 MiB higher,
  issue 19) to ``<prefix>/.staging/<random>``, then a server-side copy to the final key that only
  completes if the key is still free (obstore ``copy(overwrite=False)`` with
  ``copy_if_not_exists="multipart"``: CreateMultipartUpload, UploadPartCopy of the whole
  staging object, CompleteMultipartUpload with ``If-None-Match: *``), then the staging object
  is deleted. obstore has no conditional *multipart* put, and buffering a 512 MiB body to
  make it a single conditional ``PUT`` is not bounded memory. One part-copy caps a blob at
  5 GiB (the S3 limit), far above the 512 MiB default body limit. Setting
  ``AWS_COPY_IF_NOT_EXISTS`` (e.g. R2's ``header:cf-copy-destination-if-none-match:*``)
  overrides the mechanism for stores that implement it differently.

An "already exists" answer (412) is dedup: the object there must have the staged size, else
`Conflict` (its bytes were replaced behind the store's back; reading it would fail). Crashed
uploads leave at most a ``.staging/`` object and incomplete multipart uploads: give the bucket
a lifecycle rule for both, or call `S3BlobStore.sweep_staging`.

**Reading** streams the object in 1 MiB chunks and verifies its digest at the end.

**Errors** (obstore's are translated here and only here): 404 → `NotFound` where a blob is
looked up (``open``, ``size``; ``exists`` answers False); 412 on a create → dedup; refused
credentials (401/403) → `Unavailable` with reason ``storage_auth_failed``; connection errors,
timeouts, 5xx after retries and anything else from the store → `Unavailable`. The identity
needs ``s3:ListBucket`` besides get/put/delete: without it S3 answers 403, not 404, for a
missing key, and every absent blob would look like an outage.

Credentials, when not given, come from the usual ``AWS_*`` environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``/``AWS_DEFAULT_REGION``) and
the rest of obstore's AWS provider chain (web identity, ECS/EKS, instance metadata).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    BaseError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)
from obstore.store import S3Store

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import (
    Conflict,
    InvalidCasUri,
    InvalidConfig,
    NotFound,
    StellaError,
    Unavailable,
)
from stella_signals.ports import StoredBlob
from stella_signals.storage._fs_blobs import FilesystemBlobStore, _FsStagedBlob
from stella_signals.storage._memory_blobs import (
    READ_CHUNK,
    MeteredBlobStore,
    StreamMeter,
    valid_tenant,
    verifying,
)
from stella_signals.tenancy import TenantId

if TYPE_CHECKING:
    from obstore import GetResult, ObjectMeta
    from obstore.store import ClientConfig, RetryConfig, S3Config, S3Credential

    from stella_signals.ports import BlobStore

__all__ = ["S3BlobStore", "S3Location", "parse_cas_url"]

MiB = 1024 * 1024
_STAGING = ".staging"
#: Attempts at a create whose 412 came from an object that was gone again when we looked.
_PUBLISH_ATTEMPTS = 3
#: Network reads are gathered into `READ_CHUNK` pieces from pieces of at least this size.
_STREAM_PIECE = 256 * 1024

_QUERY_KEYS = frozenset({"endpoint_url", "region"})
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

#: Fail fast: an ingest answers 503 and its client retries, rather than hanging for minutes.
_DEFAULT_RETRY: RetryConfig = {
    "max_retries": 3,
    "retry_timeout": timedelta(seconds=30),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2)},
}
#: obstore's 30 s overall request timeout would cut long streamed reads short.
_DEFAULT_CLIENT: ClientConfig = {
    "connect_timeout": timedelta(seconds=5),
    "timeout": timedelta(minutes=30),
}


# --- configuration ---------------------------------------------------------------------


def _config_invalid(message: str) -> InvalidConfig:
    return InvalidConfig(message)


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where a CAS lives: bucket, key prefix (``""`` for none), endpoint and region."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def __str__(self) -> str:
        query = {"endpoint_url": self.endpoint_url, "region": self.region}
        text = urlencode({k: v for k, v in query.items() if v is not None}, safe=":/")
        return f"s3://{self.bucket}/{self.prefix}" + (f"?{text}" if text else "")


def parse_cas_url(url: str) -> S3Location:
    """``s3://bucket[/prefix][?endpoint_url=http://host:port][&region=r]`` → `S3Location`.

    Anything else (other schemes, credentials in the URL, unknown or repeated query keys, a
    malformed bucket, prefix or endpoint) is `InvalidConfig` (reason ``config_invalid``).
    """
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise _config_invalid(f"CAS URL must start with s3://, got {url!r}")
    if "@" in parts.netloc:
        raise _config_invalid("CAS URL must not carry credentials: use the AWS_* variables")
    if not _BUCKET.fullmatch(parts.netloc):
        raise _config_invalid(f"CAS URL has an invalid S3 bucket name {parts.netloc!r}")
    if parts.fragment:
        raise _config_invalid(f"CAS URL must not have a fragment: {url!r}")
    prefix = parts.path.strip("/")
    if prefix and not all(_PREFIX_SEGMENT.fullmatch(s) for s in prefix.split("/")):
        raise _config_invalid(
            f"CAS URL prefix {prefix!r} must be /-separated segments of A-Z a-z 0-9 . _ -"
            " (not starting with '.' or '-')"
        )
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise _config_invalid(f"CAS URL has a malformed query: {exc}") from None
    query: dict[str, str] = {}
    for name, value in pairs:
        if name not in _QUERY_KEYS:
            known = ", ".join(sorted(_QUERY_KEYS))
            raise _config_invalid(f"CAS URL has an unknown query key {name!r} (known: {known})")
        if name in query:
            raise _config_invalid(f"CAS URL repeats the query key {name!r}")
        query[name] = value
    endpoint = query.get("endpoint_url")
    if endpoint is not None:
        endpoint = _parse_endpoint(endpoint)
    region = query.get("region")
    if region is not None and not _REGION.fullmatch(region):
        raise _config_invalid(f"CAS URL has an invalid region {region!r}")
    return S3Location(bucket=parts.netloc, prefix=prefix, endpoint_url=endpoint, region=region)


def _parse_endpoint(text: str) -> str:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _config_invalid(f"CAS URL endpoint_url {text!r} is invalid: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _config_invalid(f"CAS URL endpoint_url must be http(s)://host[:port], got {text!r}")
    if parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment:
        raise _config_invalid(f"CAS URL endpoint_url must be only scheme, host and port: {text!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


# --- obstore errors, translated in one place -------------------------------------------

#: What a create-only write answers when the key is taken (412); caught where the create is.
_TAKEN = (AlreadyExistsError, PreconditionError)


def _first_line(exc: BaseException) -> str:
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


@contextlib.contextmanager
def _s3_errors(action: str, *, not_found: StellaError | None = None) -> Iterator[None]:
    """obstore failures as our errors. 404 is ``not_found`` when given, else an outage."""
    try:
        yield
    except FileNotFoundError as exc:
        if not_found is not None:
            raise not_found from None
        raise Unavailable(f"blob store: {action} failed: {_first_line(exc)}") from exc
    except (PermissionDeniedError, UnauthenticatedError) as exc:
        raise Unavailable(
            f"blob store refused our credentials while {action} (check AWS_ACCESS_KEY_ID, "
            f"AWS_SECRET_ACCESS_KEY and the identity's permissions): {_first_line(exc)}",
            reason="storage_auth_failed",
        ) from exc
    except (BaseError, OSError) as exc:
        raise Unavailable(f"blob store: {action} failed: {_first_line(exc)}") from exc


# --- the store -------------------------------------------------------------------------


class _S3StagedBlob:
    """A spooled blob; `publish` uploads it. Everything else is the spool's."""

    def __init__(self, store: S3BlobStore, tenant: TenantId, spooled: _FsStagedBlob) -> None:
        self._store = store
        self._tenant = tenant
        self._spooled = spooled

    @property
    def uri(self) -> CasUri:
        return self._spooled.uri

    @property
    def size(self) -> int:
        return self._spooled.size

    @property
    def sha256(self) -> str:
        return self._spooled.sha256

    def read(self) -> Iterator[bytes]:
        return self._spooled.read()

    def publish(self) -> StoredBlob:
        spool = self._spooled._pending()  # RuntimeError once published or discarded
        created = self._store._publish(self._tenant, self.uri, self.size, spool)
        self._spooled.discard()
        return StoredBlob(uri=self.uri, size=self.size, sha256=self.sha256, created=created)

    def discard(self) -> None:
        self._spooled.discard()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._spooled.__exit__(*exc_info)


class S3BlobStore(MeteredBlobStore):
    """A tenant-scoped, content-addressed, write-once blob store in an S3 bucket."""

    def __init__(
        self,
        location: S3Location,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        staging_dir: Path | None = None,
        single_put_max_bytes: int = 8 * MiB,
        part_size: int = 5 * MiB,
        max_concurrency: int = 4,
        retry_config: RetryConfig | None = None,
        client_options: ClientConfig | None = None,
    ) -> None:
        """Credentials given here replace the environment's; without them obstore's AWS chain
        (``AWS_*`` variables first) supplies them. ``retry_config`` and ``client_options`` are
        merged over this module's defaults."""
        credential: S3Credential | None = None
        if access_key_id is not None and secret_access_key is not None:
            credential = {
                "access_key_id": access_key_id,
                "secret_access_key": secret_access_key,
                "token": session_token,
                "expires_at": None,
            }
        elif access_key_id is not None or secret_access_key is not None or session_token:
            raise _config_invalid(
                "give access_key_id and secret_access_key (and maybe session_token), or none"
            )
        if part_size < 5 * MiB:
            raise ValueError(f"part_size must be at least 5 MiB (the S3 minimum), got {part_size}")
        if single_put_max_bytes < 0 or max_concurrency < 1:
            raise ValueError("single_put_max_bytes must be >= 0 and max_concurrency >= 1")
        self._location = location
        self._single_put_max = single_put_max_bytes
        # Publishers of one key in this process take turns: the second finds the object and
        # skips its upload. SeaweedFS was seen to let several concurrent conditional
        # CompleteMultipartUploads of one key all succeed (same bytes, so no harm to the
        # content, but each reported created=True).
        self._key_locks: weakref.WeakValueDictionary[str, threading.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._key_locks_guard = threading.Lock()
        self._part_size = part_size
        self._max_concurrency = max_concurrency
        if staging_dir is None:
            staging_dir = Path(tempfile.mkdtemp(prefix="stella-s3-spool-"))
            weakref.finalize(self, shutil.rmtree, staging_dir, ignore_errors=True)
        self._spool = FilesystemBlobStore(staging_dir)
        self._s3 = _s3_store(
            location,
            credential=credential,
            retry_config={**_DEFAULT_RETRY, **(retry_config or {})},
            client_options={**_DEFAULT_CLIENT, **(client_options or {})},
        )

    @classmethod
    def from_url(cls, url: str, *, staging_dir: Path | None = None) -> S3BlobStore:
        """The store an operator's ``--cas s3://...`` names, credentials from ``AWS_*``."""
        return cls(parse_cas_url(url), staging_dir=staging_dir)

    @property
    def location(self) -> S3Location:
        return self._location

    def key_of(self, tenant: TenantId, uri: CasUri) -> str:
        """The object key of ``uri`` for ``tenant``: ``<prefix>/<tenant>/<namespace>/<hex>``."""
        return self._location.key(valid_tenant(tenant), uri.namespace.value, uri.digest.hex)

    def _stage_metered(
        self, tenant: TenantId, meter: StreamMeter, chunks: Iterable[bytes]
    ) -> _S3StagedBlob:
        """Spooled to a local staging file; uploaded only by `publish`."""
        return _S3StagedBlob(self, tenant, self._spool._stage_metered(tenant, meter, chunks))

    def exists(self, tenant: TenantId, uri: CasUri) -> bool:
        return self._head(self.key_of(tenant, uri), f"looking up {uri}") is not None

    def iter_uris(self, tenant: TenantId, namespace: Namespace) -> Iterator[CasUri]:
        """The blobs of ``tenant`` in ``namespace``, by digest (S3 lists keys in order)."""
        prefix = self._location.key(valid_tenant(tenant), namespace.value) + "/"
        with _s3_errors(f"listing {namespace} of tenant {tenant}"):
            for batch in obstore.list(self._s3, prefix):
                for meta in batch:
                    with contextlib.suppress(InvalidCasUri):
                        yield CasUri.of(namespace, meta["path"].removeprefix(prefix))

    def size(self, tenant: TenantId, uri: CasUri) -> int:
        meta = self._head(self.key_of(tenant, uri), f"looking up {uri}")
        if meta is None:
            raise NotFound(f"no blob {uri} for tenant {tenant}")
        return meta["size"]

    def open(self, tenant: TenantId, uri: CasUri) -> Iterator[bytes]:
        key = self.key_of(tenant, uri)
        with _s3_errors(f"reading {uri}", not_found=NotFound(f"no blob {uri} for tenant {tenant}")):
            result = obstore.get(self._s3, key)
        return verifying(tenant, uri, _read_chunks(result, f"reading {uri}"))

    def sweep_staging(
        self,
        older_than_seconds: float,
        *,
        now: datetime | None = None,
        objects_older_than_seconds: float | None = None,
    ) -> int:
        """Remove spool files no live process owns and ``.staging/`` objects, older than
        ``older_than_seconds`` (objects: ``objects_older_than_seconds`` when given).

        They are left by crashes. Spool files are locked by their uploads (see
        `FilesystemBlobStore.sweep_staging`); objects are not, so keep their age well above
        the longest copy into place. Incomplete multipart uploads are not listed by obstore:
        leave those to a bucket lifecycle rule. Returns how many were removed.
        """
        removed = self._spool.sweep_staging(older_than_seconds, now=now)
        if objects_older_than_seconds is None:
            objects_older_than_seconds = older_than_seconds
        cutoff = (now if now is not None else datetime.now(UTC)) - timedelta(
            seconds=objects_older_than_seconds
        )
        with _s3_errors("sweeping staged uploads"):
            for batch in obstore.list(self._s3, self._location.key(_STAGING) + "/"):
                stale = [meta["path"] for meta in batch if meta["last_modified"] < cutoff]
                if stale:
                    obstore.delete(self._s3, stale)
                    removed += len(stale)
        return removed

    def _head(self, key: str, action: str) -> ObjectMeta | None:
        with _s3_errors(action):
            try:
                return obstore.head(self._s3, key)
            except FileNotFoundError:
                return None

    def _publish(self, tenant: TenantId, uri: CasUri, size: int, spool: Path) -> bool:
        """Create ``uri``'s object from ``spool``; False if it was already there (dedup)."""
        key = self.key_of(tenant, uri)
        with self._key_locks_guard:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
        with lock:
            return self._publish_once(tenant, uri, size, spool, key)

    def _publish_once(
        self, tenant: TenantId, uri: CasUri, size: int, spool: Path, key: str
    ) -> bool:
        for _ in range(_PUBLISH_ATTEMPTS):
            if size <= self._single_put_max:
                with _s3_errors(f"uploading {uri}"):
                    try:
                        obstore.put(self._s3, key, spool, mode="create", use_multipart=False)
                        return True
                    except _TAKEN:
                        pass
            elif self._upload_then_copy(key, spool, uri):
                return True
            existing = self._head(key, f"looking up {uri}")
            if existing is None:
                continue  # what refused the create is gone again: try once more
            if existing["size"] != size:
                raise Conflict(
                    f"blob {uri} of tenant {tenant} already exists with other content: "
                    f"{existing['size']} bytes, not {size}; it was altered behind the store's back"
                )
            return False
        raise Unavailable(
            f"blob store: publishing {uri} kept being refused, yet no object is there"
        )

    def _upload_then_copy(self, key: str, spool: Path, uri: CasUri) -> bool:
        """Multipart-upload ``spool`` beside, then copy it to ``key`` if free; False if taken."""
        staging = self._location.key(_STAGING, secrets.token_hex(16))
        with _s3_errors(f"uploading {uri}"):
            obstore.put(
                self._s3,
                staging,
                spool,
                use_multipart=True,
                chunk_size=self._part_size,
                max_concurrency=self._max_concurrency,
            )
        try:
            with _s3_errors(f"publishing {uri}"):
                try:
                    obstore.copy(self._s3, staging, key, overwrite=False)
                except _TAKEN:
                    return False
            return True
        finally:
            # Best effort: on an outage the object stays for `sweep_staging` or a lifecycle rule.
            with contextlib.suppress(BaseError, OSError):
                obstore.delete(self._s3, staging)


def _read_chunks(result: GetResult, action: str) -> Iterator[bytes]:
    """The body of ``result`` in `READ_CHUNK` pieces (the last may be shorter)."""
    buffer = bytearray()
    with _s3_errors(action):
        for piece in result.stream(min_chunk_size=_STREAM_PIECE):
            buffer += piece
            while len(buffer) >= READ_CHUNK:
                yield bytes(buffer[:READ_CHUNK])
                del buffer[:READ_CHUNK]
    if buffer:
        yield bytes(buffer)


class _StaticCredential:
    """Credentials given to the constructor; they replace the environment's entirely."""

    def __init__(self, credential: S3Credential) -> None:
        self._credential = credential

    def __call__(self) -> S3Credential:
        return self._credential

    def __repr__(self) -> str:
        return f"<static S3 credential {self._credential['access_key_id']}>"


def _s3_store(
    location: S3Location,
    *,
    credential: S3Credential | None,
    retry_config: RetryConfig,
    client_options: ClientConfig,
) -> S3Store:
    config: S3Config = {}
    if location.endpoint_url is not None:
        config["endpoint"] = location.endpoint_url
        if location.endpoint_url.startswith("http://"):
            client_options = {**client_options, "allow_http": True}
    if location.region is not None:
        config["region"] = location.region
    if "AWS_COPY_IF_NOT_EXISTS" not in os.environ:
        config["copy_if_not_exists"] = "multipart"
    try:
        return S3Store(
            location.bucket,
            config=config,
            client_options=client_options,
            retry_config=retry_config,
            credential_provider=None if credential is None else _StaticCredential(credential),
        )
    except (BaseError, ValueError) as exc:
        raise _config_invalid(f"S3 CAS {location}: {_first_line(exc)}") from exc


if TYPE_CHECKING:

    def _conforms(store: S3BlobStore) -> BlobStore:
        return store
