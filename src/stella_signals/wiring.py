"""The composition root: settings (config file, ``STELLA_*`` environment, flags) and the
services built from them. Front doors (`api`, `cli`) build everything through here."""

from __future__ import annotations

import logging
import os
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stella_signals.attest import (
    PublicKey,
    ServiceKey,
    load_or_create_service_key,
    new_service_key_pem,
    service_key_from_pem,
)
from stella_signals.auth import TokenRequest, new_token, token_hash
from stella_signals.cas import CasUri, Namespace
from stella_signals.clock import Clock, SystemClock
from stella_signals.errors import InvalidConfig
from stella_signals.ingest import (
    GraphCatalog,
    IngestContext,
    RetryStats,
    TimeKeeper,
    TimeSettings,
    retry_orphans,
    worker_name,
)
from stella_signals.limits import DEFAULT_LIMITS, PORT_RANGE, Limits
from stella_signals.metrics import Metrics
from stella_signals.ports import (
    BlobStore,
    GraphStore,
    IngestStore,
    KeyPurpose,
    OrphanQueue,
    ServiceKeyStore,
    SyncStore,
    TimelineStore,
    TokenRecord,
    TokenStore,
    TrustedKey,
    TrustStore,
    VerdictStore,
)
from stella_signals.tenancy import TenantId
from stella_signals.textfile import read_text_file
from stella_signals.timeanchor import DriftMonitor, TimeMode, parse_ntp_server

if TYPE_CHECKING:
    # The storage adapters load SQLAlchemy and Alembic (a third of a second): they are
    # imported by the functions that open a store, so a command that needs no database
    # (`stella --help`, the offline checks) starts without them.
    from stella_signals.storage import SqlRepository
    from stella_signals.verdicts import ReevaluationStats

__all__ = [
    "IssuedToken",
    "OrphanRetrier",
    "Services",
    "Settings",
    "check_ready",
    "limit_keys",
    "load_settings",
    "local_blob_store",
    "local_graph_catalog",
    "open_blob_store",
    "open_local_repository",
    "read_file_chunks",
    "read_text_file",
    "sweep_staging",
    "tune_allocator",
]

#: Bytes read at a time from a local file.
READ_CHUNK = 1 << 20
#: glibc's ``mallopt`` parameter for the size from which a block gets its own mapping.
_M_MMAP_THRESHOLD = -3
#: Blocks at least this big are mapped on their own by a long-running process
#: (`tune_allocator`): above the 1 MiB chunks an ingest streams, below the tables of a large one.
MMAP_THRESHOLD_BYTES = 4 << 20


def tune_allocator() -> bool:
    """Fix the C allocator's mapping threshold at `MMAP_THRESHOLD_BYTES` in a long-running
    process (`signals serve`, `signals worker`); True when it was set.

    glibc starts at 128 KiB and raises the threshold to the size of every mapped block freed
    (up to 32 MiB). After a few thousand small ingests a server had raised it, so the trace
    scanner's tables of a large ingest came from the heap: growing one copied it (old and new
    both resident) and freeing it left the pages to the heap, where other threads' arenas
    cannot reuse them. A 10 M-record ingest after the small-ingest load peaked at 284 MiB;
    with the threshold fixed, 248 MiB (issue 19). Fixed, big blocks are mapped, grown in place
    (``mremap``) and given back when freed. Left alone when the environment sets it
    (``MALLOC_MMAP_THRESHOLD_`` or a ``GLIBC_TUNABLES`` ``mmap_threshold``) or off glibc."""
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in os.environ.get(
        "GLIBC_TUNABLES", ""
    ):
        return False
    import ctypes  # only the processes that tune it pay for loading ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


#: The embedded default's database file in the data dir.
EMBEDDED_DATABASE = "signals.db"

#: Settings: name → (config-file key, environment variable).
_KEYS = {
    "data_dir": ("data_dir", "STELLA_DATA_DIR"),
    "database_url": ("database.url", "STELLA_DATABASE_URL"),
    "cas_url": ("cas.url", "STELLA_CAS_URL"),
    "service_key_file": ("service_key_file", "STELLA_SERVICE_KEY_FILE"),
    "host": ("server.host", "STELLA_HOST"),
    "port": ("server.port", "STELLA_PORT"),
    "orphan_retry_seconds": ("orphans.retry_seconds", "STELLA_ORPHAN_RETRY_SECONDS"),
    "time_mode": ("time.mode", "STELLA_TIME_MODE"),
    "ntp_servers": ("time.ntp_servers", "STELLA_NTP_SERVERS"),
    "max_drift_ms": ("time.max_drift_ms", "STELLA_MAX_DRIFT_MS"),
    "anchor_budget_seconds": ("time.anchor_budget_seconds", "STELLA_ANCHOR_BUDGET_SECONDS"),
    "header_timeout_seconds": ("server.header_timeout_seconds", "STELLA_HEADER_TIMEOUT_SECONDS"),
    "body_timeout_seconds": ("server.body_timeout_seconds", "STELLA_BODY_TIMEOUT_SECONDS"),
    "keep_alive_seconds": ("server.keep_alive_seconds", "STELLA_KEEP_ALIVE_SECONDS"),
    "max_connections": ("server.max_connections", "STELLA_MAX_CONNECTIONS"),
    "staging_max_age_seconds": (
        "storage.staging_max_age_seconds",
        "STELLA_STAGING_MAX_AGE_SECONDS",
    ),
}


#: Settings that must be above zero.
_POSITIVE = (
    "header_timeout_seconds",
    "body_timeout_seconds",
    "keep_alive_seconds",
    "max_connections",
    "staging_max_age_seconds",
)


@dataclass(frozen=True, kw_only=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None
    cas_url: str | None = None
    service_key_file: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    #: Time for a client to send a request line and headers (408 and closed past it).
    header_timeout_seconds: float = 10.0
    #: Longest stall in a request body before the connection is closed.
    body_timeout_seconds: float = 60.0
    #: How long an idle keep-alive connection stays open.
    keep_alive_seconds: float = 5.0
    #: Open connections a server process accepts; one more is answered 503 and closed.
    max_connections: int = 256
    #: How often the server (embedded default) and `signals worker` retry orphans; 0 = never.
    orphan_retry_seconds: float = 5.0
    #: SPEC §11: system (default, untrusted local clock), ntp or anchor.
    time_mode: TimeMode = TimeMode.SYSTEM
    ntp_servers: tuple[str, ...] = ()
    max_drift_ms: float = 200.0
    anchor_budget_seconds: int = 86_400
    #: Age past which an S3 ``.staging/`` object is abandoned (local staging files are
    #: locked by their uploads and swept as soon as their process is gone).
    staging_max_age_seconds: float = 3600.0
    limits: Limits = field(default=DEFAULT_LIMITS)

    @property
    def effective_database_url(self) -> str:
        from stella_signals.storage import sqlite_url

        return self.database_url or sqlite_url(self.data_dir / EMBEDDED_DATABASE)


def _lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def read_file_chunks(path: Path, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
    """A local file (a trace, an attestation, a bundle member) in chunks, for the core's
    streaming parsers and the blob stores."""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Flags win over the environment, which wins over the config file, over defaults."""
    env = os.environ if environ is None else environ
    doc: dict[str, Any] = {}
    if config_file is not None:
        text = read_text_file(config_file, what="config file")
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidConfig(f"config file {config_file}: not TOML: {exc}") from None
    values: dict[str, Any] = {}
    for name, (key, variable) in _KEYS.items():
        for candidate in (flags.get(name), env.get(variable), _lookup(doc, key)):
            if candidate is not None:
                values[name] = candidate
                break
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    if "time_mode" in values:
        try:
            values["time_mode"] = TimeMode(str(values["time_mode"]))
        except ValueError as exc:
            raise InvalidConfig(f"time.mode must be system, ntp or anchor: {exc}") from exc
    if "ntp_servers" in values:
        servers = values["ntp_servers"]
        if isinstance(servers, str):
            servers = [part.strip() for part in servers.split(",") if part.strip()]
        for server in servers:
            try:
                parse_ntp_server(str(server))
            except ValueError as exc:
                raise InvalidConfig(f"time.ntp_servers: {exc}") from exc
        values["ntp_servers"] = tuple(str(x) for x in servers)
    for name, kind in (
        ("port", int),
        ("orphan_retry_seconds", float),
        ("max_drift_ms", float),
        ("anchor_budget_seconds", int),
        ("staging_max_age_seconds", float),
        ("header_timeout_seconds", float),
        ("body_timeout_seconds", float),
        ("keep_alive_seconds", float),
        ("max_connections", int),
    ):
        if name in values:
            try:
                values[name] = kind(values[name])
            except (ValueError, TypeError) as exc:
                raise InvalidConfig(f"{name} must be a number: {values[name]!r}") from exc
    if "port" in values and values["port"] not in PORT_RANGE:
        key, variable = _KEYS["port"]
        raise InvalidConfig(
            f"port {values['port']} is not a TCP port (1-65535): check --port, {variable} "
            f"and {key} in the config file"
        )
    for name in _POSITIVE:
        if name in values and not values[name] > 0:
            key, variable = _KEYS[name]
            raise InvalidConfig(f"{key} ({variable}) must be positive: {values[name]!r}")
    values["limits"] = _limits(doc, env, flags.get("limits"))
    return replace(Settings(), **values)


def limit_keys(name: str) -> tuple[str, str]:
    """A `Limits` field's config-file key and environment variable (SPEC §2, §11)."""
    return f"limits.{name}", f"STELLA_{name.upper()}"


def _limits(doc: Mapping[str, Any], env: Mapping[str, str], given: Limits | None) -> Limits:
    """`Limits` from the environment over the config file over the defaults; a `Limits`
    given as a flag wins whole."""
    if given is not None:
        return given
    changes: dict[str, int] = {}
    for name in (f.name for f in fields(Limits)):
        key, variable = limit_keys(name)
        for where, candidate in ((variable, env.get(variable)), (key, _lookup(doc, key))):
            if candidate is None:
                continue
            try:
                if isinstance(candidate, bool | float):
                    raise ValueError
                changes[name] = int(candidate)
            except ValueError:
                raise InvalidConfig(f"{where} must be a whole number: {candidate!r}") from None
            break
    try:
        return replace(DEFAULT_LIMITS, **changes)
    except ValueError as exc:
        raise InvalidConfig(str(exc)) from None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made: its secret (``stl_...``), to be shown this once, and its record."""

    secret: str
    record: TokenRecord

    @property
    def token_id(self) -> str:
        return self.record.token_id


@dataclass(kw_only=True)
class Services:
    """Long-lived services of one process."""

    settings: Settings
    repo: SqlRepository
    blobs: BlobStore
    graphs: GraphCatalog
    service_key: ServiceKey
    clock: Clock
    time: TimeKeeper
    metrics: Metrics = field(default_factory=Metrics.create)

    @classmethod
    def open(
        cls, settings: Settings, *, clock: Clock | None = None, migrate: bool = True
    ) -> Services:
        from stella_signals.storage import FilesystemIndexCache, SqlRepository

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        blobs = open_blob_store(settings)
        repo = SqlRepository(settings.effective_database_url)
        if migrate:
            repo.migrate()
        clock = clock or SystemClock()
        monitor = None
        if settings.time_mode is TimeMode.NTP:
            monitor = DriftMonitor(settings.ntp_servers, clock=clock)
            monitor.start()
        time = TimeKeeper(
            settings=TimeSettings(
                mode=settings.time_mode,
                ntp_servers=settings.ntp_servers,
                max_drift_ms=settings.max_drift_ms,
                anchor_budget_seconds=settings.anchor_budget_seconds,
            ),
            repo=repo,
            clock=clock,
            monitor=monitor,
        )
        return cls(
            settings=settings,
            repo=repo,
            blobs=blobs,
            graphs=GraphCatalog(blobs, FilesystemIndexCache(settings.data_dir / "index")),
            service_key=_service_key(settings, repo, clock),
            clock=clock,
            time=time,
        )

    # The ports the front doors call, one per aggregate (ADR 0006): `api` and `cli` name the
    # aggregate they touch and never reach into the repository itself.
    @property
    def tokens(self) -> TokenStore:
        return self.repo

    @property
    def trust(self) -> TrustStore:
        return self.repo

    @property
    def graph_records(self) -> GraphStore:
        return self.repo

    @property
    def ingests(self) -> IngestStore:
        return self.repo

    @property
    def orphans(self) -> OrphanQueue:
        return self.repo

    @property
    def timeline(self) -> TimelineStore:
        return self.repo

    @property
    def service_keys(self) -> ServiceKeyStore:
        return self.repo

    @property
    def sync(self) -> SyncStore:
        return self.repo

    @property
    def verdicts(self) -> VerdictStore:
        return self.repo

    def issue_token(self, *, tenants: frozenset[str], request: TokenRequest) -> IssuedToken:
        """Make a bearer token for ``tenants``: a random secret, kept only as its SHA-256,
        expiring as ``request`` says from now (`InvalidInput`, reason ``invalid_expiry``, when
        that is ambiguous or not in the future). The one way `signals tokens create`,
        ``POST /api/v1/tokens`` and the demo mint a token."""
        now = self.clock.now()
        expires_at = request.expiry(now)
        secret = new_token()
        token_id = self.tokens.add_token(
            token_hash=token_hash(secret),
            tenants=tenants,
            scopes=request.scopes,
            at=now,
            expires_at=expires_at,
        )
        record = TokenRecord(
            token_id, tenants, request.scopes, created_at=now, expires_at=expires_at
        )
        return IssuedToken(secret=secret, record=record)

    def trust_key(self, tenant: TenantId, purpose: KeyPurpose, key: PublicKey) -> bool:
        """Trust ``key`` for ``tenant``'s ``purpose`` from now on; False when it already was.
        The one way `signals keys add` and ``POST /api/v1/keys`` trust a key."""
        return self.trust.add_trusted_key(
            TrustedKey(
                tenant=tenant,
                purpose=purpose,
                keyid=key.keyid,
                public_pem=key.pem,
                added_at=self.clock.now(),
            )
        )

    def ingest_context(self, source: str) -> IngestContext:
        return IngestContext(
            blobs=self.blobs,
            repo=self.repo,
            graphs=self.graphs,
            clock=self.clock,
            limits=self.settings.limits,
            service_key=self.service_key,
            source=source,
            metrics=self.metrics,
            time=self.time,
        )

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.time.monitor is not None:
            self.time.monitor.stop()
        self.repo.close()


def open_blob_store(settings: Settings) -> BlobStore:
    """The CAS: an S3-compatible bucket when ``cas_url`` is set (scale-out; uploads are
    spooled under the local data dir first), else the filesystem under the data dir."""
    if settings.cas_url is not None:
        from stella_signals.storage import S3BlobStore

        return S3BlobStore.from_url(settings.cas_url, staging_dir=settings.data_dir / "staging")
    return local_blob_store(settings.data_dir)


def local_blob_store(data_dir: Path) -> BlobStore:
    """The embedded default's CAS: the filesystem under ``data_dir``."""
    from stella_signals.storage import FilesystemBlobStore

    return FilesystemBlobStore(data_dir / "cas")


def local_graph_catalog(data_dir: Path) -> GraphCatalog:
    """The embedded default's graph catalog: its CAS and index cache under ``data_dir``."""
    from stella_signals.storage import FilesystemIndexCache

    return GraphCatalog(local_blob_store(data_dir), FilesystemIndexCache(data_dir / "index"))


def open_local_repository(settings: Settings) -> SqlRepository | None:
    """The local deployment's metadata store as it is, for commands that only read it: never
    migrated, nothing created. None when the embedded default has no database yet."""
    if settings.database_url is None and not (settings.data_dir / EMBEDDED_DATABASE).is_file():
        return None
    from stella_signals.storage import SqlRepository

    return SqlRepository(settings.effective_database_url)


def sweep_staging(services: Services) -> int:
    """Remove the staging files crashed uploads left (any age: live uploads of every process
    on the data dir hold a lock on theirs) and S3 staging objects older than
    ``staging_max_age_seconds``; count them in ``signals_staging_swept_total``."""
    from stella_signals.storage import FilesystemBlobStore, S3BlobStore

    blobs = services.blobs
    if isinstance(blobs, S3BlobStore):
        removed = blobs.sweep_staging(
            0, objects_older_than_seconds=services.settings.staging_max_age_seconds
        )
    elif isinstance(blobs, FilesystemBlobStore):
        removed = blobs.sweep_staging(0)
    else:
        return 0
    services.metrics.staging_swept(removed)
    if removed:
        logging.getLogger(__name__).info("removed %d abandoned staging file(s)", removed)
    return removed


def check_ready(services: Services) -> None:
    """Raise `Unavailable` unless the metadata store and the CAS both answer."""
    services.repo.ping()
    # A lookup of a blob nobody has: False when the store answers, Unavailable when not.
    services.blobs.exists(_PROBE_TENANT, _PROBE_URI)


_PROBE_TENANT = TenantId("readyz")
_PROBE_URI = CasUri.of(Namespace.RUNTIME, "0" * 64)


def _service_key(settings: Settings, repo: SqlRepository, clock: Clock) -> ServiceKey:
    """SPEC §13: ``STELLA_SERVICE_KEY_FILE`` when set; else on the embedded default a key file
    under the data dir; else (scale-out) one key generated once and kept in the database, so
    every server of the deployment signs with it. The key in use is recorded as current and
    the one before it as retired, for ``GET /api/v1/keys/service``."""
    if settings.service_key_file or settings.database_url is None:
        key = load_or_create_service_key(settings.data_dir, env_file=settings.service_key_file)
        repo.register_service_key(key.keyid, key.public_pem, clock.now())
        return key
    pem = repo.current_service_key(new_service_key_pem, clock.now())
    return service_key_from_pem(pem, source="database")


class OrphanRetrier:
    """A background thread retrying due orphans every ``orphan_retry_seconds``, then
    re-evaluating the verdicts of graphs that had new ingests."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="orphan-retrier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def run_once(self) -> RetryStats:
        return retry_orphans(self._services.ingest_context("signals-worker"), worker=worker_name())

    def reevaluate_once(self) -> ReevaluationStats:
        """Re-evaluate the (graph, catalog) pairs whose graph had new ingests (docs/verdicts.md):
        after the orphan pass, so orphans released by their graph count at once. Imported
        here: the VEX libraries would cost every `stella` command their start-up time."""
        from stella_signals.verdicts import reevaluate_due

        return reevaluate_due(self._services.ingest_context("signals-worker"), worker=worker_name())

    def _run(self) -> None:
        interval = self._services.settings.orphan_retry_seconds
        while not self._stop.wait(interval):
            try:
                self.run_once()
            except Exception:
                logging.getLogger(__name__).exception("orphan retry pass failed")
            try:
                self.reevaluate_once()
            except Exception:
                logging.getLogger(__name__).exception("re-evaluation pass failed")
