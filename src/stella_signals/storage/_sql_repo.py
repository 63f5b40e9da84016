"""`Repository` on SQLAlchemy Core: SQLite (WAL) on the embedded default, PostgreSQL at scale.

Every write that appends a timeline event runs in one transaction that first takes the
tenant's chain lock (SQLite: ``BEGIN IMMEDIATE`` serialises writers; PostgreSQL: a
transaction-scoped advisory lock per tenant, so servers append to different tenants in
parallel), reads the tenant's last event and appends the next one. The chain never forks,
and an ingest is recorded with its facts and event, or not at all.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from stella_signals.clock import FixedClock
from stella_signals.errors import (
    Conflict,
    InsufficientStorage,
    InvalidConfig,
    Unavailable,
)
from stella_signals.ids import new_ulid
from stella_signals.ports import (
    EventDraft,
    FactRow,
    GraphRecord,
    ImportedEvidence,
    IngestRecord,
    KeyPurpose,
    NodeObservation,
    OrphanItem,
    ServiceKeyRecord,
    SymbolManifestRecord,
    TenantPolicy,
    TokenRecord,
    TrustedKey,
)
from stella_signals.storage._schema import (
    facts,
    graphs,
    imported_events,
    imported_evidence,
    ingests,
    orphan_queue,
    service_keys,
    symbol_manifests,
    tenant_policies,
    time_anchors,
    timeline_events,
    tokens,
    trusted_keys,
)
from stella_signals.tenancy import TenantId
from stella_signals.timeline import EventType, TimelineEvent, next_event, parse_event

__all__ = ["SqlRepository", "engine_url", "sqlite_url"]

#: Rows per INSERT batch for facts (bounded memory whatever the trace).
_FACT_BATCH = 5000
#: First retry of an orphan trace (SPEC §12: 1 min doubling to 1 h).
ORPHAN_FIRST_DELAY = timedelta(minutes=1)
#: Attempts of a write that lost a race (a unique key taken by a concurrent writer).
_APPEND_ATTEMPTS = 5
#: PostgreSQL advisory lock keys: migrations (one key), tenant chains (a namespace).
_MIGRATION_LOCK = 0x5374656C6C61  # "Stella"
_CHAIN_LOCK_NAMESPACE = 0x5354  # "ST"
_SERVICE_KEY_LOCK = 0x5354454C4B  # "STELK"


class _ReceiptChanged(Exception):
    """Rolls back an orphan's finish: its receipt was superseded since the worker read it."""


def sqlite_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{path}"


def engine_url(url: str) -> str:
    """An operator's database URL as SQLAlchemy takes it: ``postgresql://`` (and
    ``postgres://``) mean psycopg 3; ``sqlite:///path`` the standard library driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidConfig(
            "database URL must look like postgresql://user:password@host:port/db or sqlite:///path"
        )
    driver = {
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
        "postgresql+psycopg": "postgresql+psycopg",
        "sqlite": "sqlite+pysqlite",
        "sqlite+pysqlite": "sqlite+pysqlite",
    }.get(scheme)
    if driver is None:
        raise InvalidConfig(
            f"database URL scheme {scheme!r} is not supported: use postgresql:// or sqlite://"
        )
    return f"{driver}://{rest}"


def _redacted(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class SqlRepository:
    """The metadata store. Construct with a SQLAlchemy URL; call `migrate` once."""

    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.url.startswith("postgresql"):
            # A bounded pool per process; connection attempts fail fast so a database outage
            # answers 503 at once instead of hanging the request.
            options |= {"pool_size": 8, "max_overflow": 8, "pool_timeout": 10}
            options["connect_args"] = {"connect_timeout": 5, "application_name": "stella-signals"}
        self.engine: Engine = sa.create_engine(self.url, **options)
        self.dialect = self.engine.dialect.name
        self._writer_lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()
        _unavailable_on_connection_errors(self.engine)
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
            self._writer_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqlRepository({_redacted(self.url)!r})"

    # -- schema ------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (Alembic), whoever else is starting."""
        config = Config()
        config.set_main_option(
            "script_location", str(files("stella_signals.storage") / "migrations")
        )
        with self.engine.connect() as connection:
            if self.dialect == "postgresql":
                # Servers starting together: one migrates, the others wait and find it done.
                connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
                connection.commit()
            try:
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                if self.dialect == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK}
                    )
                    connection.commit()

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """`Unavailable` unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise Unavailable(f"metadata store unavailable: {type(exc).__name__}") from exc

    # -- transactions ------------------------------------------------------------------
    def _write(self) -> Any:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return self.engine.connect().execution_options(stella_write=True)

    # -- tokens ------------------------------------------------------------------------
    def add_token(
        self,
        *,
        token_hash: str,
        tenants: frozenset[str],
        scopes: frozenset[str],
        at: datetime,
        expires_at: datetime | None = None,
    ) -> str:
        token_id = new_ulid(FixedClock(at))
        with self._write() as conn, conn.begin():
            conn.execute(
                tokens.insert().values(
                    token_id=token_id,
                    token_hash=token_hash,
                    tenants=_tenants_json(tenants),
                    scopes=json.dumps(sorted(scopes)),
                    created_at=at,
                    # UTC: SQLite keeps no offset, and reads every stored time as UTC.
                    expires_at=expires_at.astimezone(UTC) if expires_at is not None else None,
                )
            )
        return token_id

    def find_token(self, token_hash: str) -> TokenRecord | None:
        # No cache on purpose: every request asks the store, so a revocation committed by
        # any process of the deployment refuses the token's next request on every server.
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash)).first()
        return None if row is None else _token_of(row)

    def list_tokens(
        self, *, tenant: TenantId | None, after: str | None = None, limit: int | None = None
    ) -> list[TokenRecord]:
        query = _tokens_of(tenant).order_by(tokens.c.token_id)
        if after is not None:
            query = query.where(tokens.c.token_id > after)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_token_of(row) for row in conn.execute(query)]

    def get_token(self, token_id: str, *, tenant: TenantId | None) -> TokenRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_tokens_of(tenant).where(tokens.c.token_id == token_id)).first()
        return None if row is None else _token_of(row)

    def revoke_token(
        self, token_id: str, *, tenant: TenantId | None, at: datetime
    ) -> TokenRecord | None:
        with self._write() as conn, conn.begin():
            row = conn.execute(_tokens_of(tenant).where(tokens.c.token_id == token_id)).first()
            if row is None:
                return None
            if row.revoked_at is None:
                conn.execute(
                    tokens.update()
                    .where(tokens.c.token_id == token_id, tokens.c.revoked_at.is_(None))
                    .values(revoked_at=at)
                )
                row = conn.execute(sa.select(tokens).where(tokens.c.token_id == token_id)).one()
        return _token_of(row)

    # -- timeline ----------------------------------------------------------------------
    def _lock_tenant(self, conn: Connection, tenant: TenantId) -> None:
        """The tenant's write lock, held until the transaction ends (PostgreSQL; on SQLite
        ``BEGIN IMMEDIATE`` already serialises every writer). Check-then-insert writes take it
        first so concurrent servers never race to the same key; `_append` takes it so the
        next seq is allocated inside the committing transaction."""
        if self.dialect == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:tenant))"),
                {"ns": _CHAIN_LOCK_NAMESPACE, "tenant": tenant},
            )

    def _append(self, conn: Connection, tenant: TenantId, draft: EventDraft) -> TimelineEvent:
        self._lock_tenant(conn, tenant)
        row = conn.execute(
            sa.select(timeline_events.c.body)
            .where(timeline_events.c.tenant == tenant)
            .order_by(timeline_events.c.seq.desc())
            .limit(1)
        ).first()
        previous = parse_event(row.body.encode()) if row is not None else None
        event = next_event(
            previous=previous,
            tenant=tenant,
            event_type=EventType(draft.event_type),
            occurred_at=draft.occurred_at,
            source=draft.source,
            correlation_id=draft.correlation_id,
            attributes=draft.attributes,
            event_id=draft.event_id,
        )
        conn.execute(
            timeline_events.insert().values(
                tenant=tenant,
                seq=event.seq,
                event_id=event.event_id,
                event_type=event.event_type,
                occurred_at=draft.occurred_at,
                hash=event.hash,
                body=event.canonical_bytes().decode(),
            )
        )
        return event

    def _in_tx(self, work: Any) -> Any:
        """Run ``work(conn)`` in a write transaction, retrying lost timeline races.

        On SQLite the writers of this process also queue on a lock: SQLite's own busy
        handler sleeps in growing steps, which turned contention into 4 s tail latencies.
        """
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                with self._writer_lock, self._write() as conn, conn.begin():
                    return work(conn)
            except sa.exc.IntegrityError as exc:
                if "timeline_events" not in str(exc.orig) or attempt == _APPEND_ATTEMPTS - 1:
                    raise
            except sa.exc.OperationalError as exc:
                raise Unavailable(f"metadata store unavailable: {exc.orig}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def append_event(self, tenant: TenantId, event: EventDraft) -> TimelineEvent:
        result: TimelineEvent = self._in_tx(lambda conn: self._append(conn, tenant, event))
        return result

    def list_events(
        self,
        tenant: TenantId,
        *,
        event_type: str | None,
        since: datetime | None,
        after_seq: int | None,
        limit: int,
    ) -> list[TimelineEvent]:
        query = sa.select(timeline_events.c.body).where(timeline_events.c.tenant == tenant)
        if event_type is not None:
            query = query.where(timeline_events.c.event_type == event_type)
        if since is not None:
            query = query.where(timeline_events.c.occurred_at >= since)
        if after_seq is not None:
            query = query.where(timeline_events.c.seq > after_seq)
        query = query.order_by(timeline_events.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [parse_event(row.body.encode()) for row in conn.execute(query)]

    def get_event(self, tenant: TenantId, event_id: str) -> TimelineEvent | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(timeline_events.c.body).where(
                    timeline_events.c.tenant == tenant, timeline_events.c.event_id == event_id
                )
            ).first()
        return parse_event(row.body.encode()) if row is not None else None

    def iter_events(self, tenant: TenantId) -> Iterator[TimelineEvent]:
        after = 0
        while True:
            page = self.list_events(
                tenant, event_type=None, since=None, after_seq=after, limit=1000
            )
            yield from page
            if len(page) < 1000:
                return
            after = page[-1].seq

    # -- graphs ------------------------------------------------------------------------
    def add_graph(self, record: GraphRecord, event: EventDraft) -> bool:
        return self._add_once(
            graphs,
            record.tenant,
            {"graph_hash": record.graph_hash},
            {
                "cas_uri": record.cas_uri,
                "size": record.size,
                "nodes": record.nodes,
                "edges": record.edges,
                "created_at": record.created_at,
                "dsse_digest": record.dsse_digest,
            },
            event,
        )

    def add_symbol_manifest(self, record: SymbolManifestRecord, event: EventDraft) -> bool:
        return self._add_once(
            symbol_manifests,
            record.tenant,
            {"sha256": record.sha256},
            {"cas_uri": record.cas_uri, "entries": record.entries, "created_at": record.created_at},
            event,
        )

    def _add_once(
        self,
        table: sa.Table,
        tenant: TenantId,
        key: dict[str, Any],
        values: dict[str, Any],
        event: EventDraft,
    ) -> bool:
        """Insert a tenant's row keyed by ``key`` and append ``event``, in one transaction
        under the tenant lock; False (nothing written) when the row exists."""

        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, tenant)
            where = [table.c.tenant == tenant] + [table.c[k] == v for k, v in key.items()]
            if conn.execute(sa.select(table.c.tenant).where(*where)).first() is not None:
                return False
            conn.execute(table.insert().values(tenant=tenant, **key, **values))
            self._append(conn, tenant, event)
            return True

        created: bool = self._in_tx(work)
        return created

    def get_graph(self, tenant: TenantId, graph_hash: str) -> GraphRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(graphs).where(
                    graphs.c.tenant == tenant, graphs.c.graph_hash == graph_hash
                )
            ).first()
        if row is None:
            return None
        return GraphRecord(
            tenant=TenantId(row.tenant),
            graph_hash=row.graph_hash,
            cas_uri=row.cas_uri,
            size=row.size,
            nodes=row.nodes,
            edges=row.edges,
            created_at=_utc(row.created_at),
            dsse_digest=row.dsse_digest,
        )

    def tenants_with_graph(self, graph_hash: str) -> list[TenantId]:
        query = (
            sa.select(graphs.c.tenant)
            .where(graphs.c.graph_hash == graph_hash)
            .order_by(graphs.c.tenant)
        )
        with self.engine.connect() as conn:
            return [TenantId(row.tenant) for row in conn.execute(query)]

    # -- ingests -----------------------------------------------------------------------
    def commit_ingest(
        self, ingest: IngestRecord, facts_: Sequence[FactRow], event: EventDraft
    ) -> TimelineEvent:
        def work(conn: Connection) -> TimelineEvent:
            conn.execute(ingests.insert().values(**_ingest_values(ingest)))
            self._insert_facts(conn, ingest, facts_)
            appended = self._append(conn, ingest.tenant, event)  # takes the tenant's lock
            if ingest.status == "orphaned":
                # Under the tenant's lock a graph is either committed already (it arrived
                # while this trace was parsed, and its release pass cannot see this row: make
                # the orphan due at once) or it commits after us and its pass releases us.
                arrived = conn.execute(
                    sa.select(graphs.c.graph_hash).where(
                        graphs.c.tenant == ingest.tenant, graphs.c.graph_hash == ingest.graph_hash
                    )
                ).first()
                delay = timedelta(0) if arrived is not None else ORPHAN_FIRST_DELAY
                conn.execute(
                    orphan_queue.insert().values(
                        ingest_id=ingest.ingest_id,
                        tenant=ingest.tenant,
                        graph_hash=ingest.graph_hash,
                        queued_at=ingest.received_at,
                        next_attempt_at=ingest.received_at + delay,
                        attempts=0,
                    )
                )
            return appended

        try:
            result: TimelineEvent = self._in_tx(work)
        except sa.exc.IntegrityError as exc:
            if "ux_ingests_accepted" in str(exc.orig) or "ingests.tenant" in str(exc.orig):
                raise Conflict("an ingest of these bytes for this graph already exists") from exc
            raise
        return result

    def _insert_facts(
        self, conn: Connection, ingest: IngestRecord, rows: Sequence[FactRow]
    ) -> None:
        """Facts in bulk: COPY on PostgreSQL, a driver-level executemany on SQLite
        (SQLAlchemy's per-row parameter processing cost more than the inserts themselves
        for 10^5 facts)."""
        if not rows:
            return
        columns = [c.name for c in facts.columns]
        ingest_id, tenant = ingest.ingest_id, ingest.tenant
        if self.dialect == "postgresql":
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            # Column names come from our own schema; the rows travel as COPY data.
            statement = f"COPY facts ({', '.join(columns)}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for i, f in enumerate(rows):
                    copy.write_row(
                        (ingest_id, tenant, i, f.symbol_id, f.purl, f.container, f.hits,
                         f.first_seen, f.last_seen, f.node)
                    )  # fmt: skip
            return
        marks = ", ".join(["?"] * len(columns))
        # Column names come from our own schema; every value is a bound parameter.
        sql = f"INSERT INTO facts ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        for start in range(0, len(rows), _FACT_BATCH):
            batch = [
                (ingest_id, tenant, start + i, f.symbol_id, f.purl, f.container, f.hits,
                 _sqlite_time(f.first_seen), _sqlite_time(f.last_seen), f.node)
                for i, f in enumerate(rows[start : start + _FACT_BATCH])
            ]  # fmt: skip
            conn.exec_driver_sql(sql, batch)

    def record_failure(self, ingest: IngestRecord, event: EventDraft) -> TimelineEvent:
        def work(conn: Connection) -> TimelineEvent:
            conn.execute(ingests.insert().values(**_ingest_values(ingest)))
            return self._append(conn, ingest.tenant, event)

        result: TimelineEvent = self._in_tx(work)
        return result

    def find_duplicate(
        self, tenant: TenantId, content_sha256: str, graph_hash: str
    ) -> IngestRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ingests).where(
                    ingests.c.tenant == tenant,
                    ingests.c.content_sha256 == content_sha256,
                    ingests.c.graph_hash == graph_hash,
                    ingests.c.status.in_(("ingested", "orphaned")),
                )
            ).first()
        return _ingest_of(row) if row is not None else None

    def get_ingest(self, tenant: TenantId, ingest_id: str) -> IngestRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ingests).where(
                    ingests.c.tenant == tenant, ingests.c.ingest_id == ingest_id
                )
            ).first()
        return _ingest_of(row) if row is not None else None

    def list_ingests(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[IngestRecord]:
        query = sa.select(ingests).where(ingests.c.tenant == tenant)
        if graph_hash is not None:
            query = query.where(ingests.c.graph_hash == graph_hash)
        if status is not None:
            query = query.where(ingests.c.status == status)
        if after is not None:
            query = query.where(ingests.c.ingest_id > after)
        query = query.order_by(ingests.c.ingest_id).limit(limit)
        with self.engine.connect() as conn:
            return [_ingest_of(row) for row in conn.execute(query)]

    def list_facts(self, tenant: TenantId, ingest_id: str) -> list[FactRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(facts)
                .where(facts.c.tenant == tenant, facts.c.ingest_id == ingest_id)
                .order_by(facts.c.seq)
            )
            return [
                FactRow(
                    symbol_id=row.symbol_id,
                    purl=row.purl,
                    container=row.container,
                    hits=row._mapping["count"],
                    first_seen=_utc(row.first_seen),
                    last_seen=_utc(row.last_seen),
                    node=row.node,
                )
                for row in rows
            ]

    # -- trust ---------------------------------------------------------------------------
    def add_trusted_key(self, key: TrustedKey) -> bool:
        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, key.tenant)
            row = conn.execute(
                sa.select(trusted_keys.c.revoked_at).where(
                    trusted_keys.c.tenant == key.tenant,
                    trusted_keys.c.purpose == key.purpose.value,
                    trusted_keys.c.keyid == key.keyid,
                )
            ).first()
            if row is not None and row.revoked_at is None:
                return False
            if row is not None:
                conn.execute(
                    trusted_keys.update()
                    .where(
                        trusted_keys.c.tenant == key.tenant,
                        trusted_keys.c.purpose == key.purpose.value,
                        trusted_keys.c.keyid == key.keyid,
                    )
                    .values(
                        revoked_at=None, added_at=key.added_at, public_pem=key.public_pem.decode()
                    )
                )
                return True
            conn.execute(
                trusted_keys.insert().values(
                    tenant=key.tenant,
                    purpose=key.purpose.value,
                    keyid=key.keyid,
                    public_pem=key.public_pem.decode(),
                    added_at=key.added_at,
                )
            )
            return True

        created: bool = self._in_tx(work)
        return created

    def list_trusted_keys(
        self, tenant: TenantId, purpose: KeyPurpose, *, include_revoked: bool = False
    ) -> list[TrustedKey]:
        query = sa.select(trusted_keys).where(
            trusted_keys.c.tenant == tenant, trusted_keys.c.purpose == purpose.value
        )
        if not include_revoked:
            query = query.where(trusted_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_key_of(row) for row in conn.execute(query.order_by(trusted_keys.c.keyid))]

    def revoke_trusted_key(
        self, tenant: TenantId, purpose: KeyPurpose, keyid: str, at: datetime
    ) -> bool:
        def work(conn: Connection) -> bool:
            result = conn.execute(
                trusted_keys.update()
                .where(
                    trusted_keys.c.tenant == tenant,
                    trusted_keys.c.purpose == purpose.value,
                    trusted_keys.c.keyid == keyid,
                    trusted_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=at)
            )
            return bool(result.rowcount)

        revoked: bool = self._in_tx(work)
        return revoked

    def get_policy(self, tenant: TenantId) -> TenantPolicy:
        with self.engine.connect() as conn:
            return self._policy(conn, tenant)

    @staticmethod
    def _policy(conn: Connection, tenant: TenantId) -> TenantPolicy:
        row = conn.execute(
            sa.select(tenant_policies).where(tenant_policies.c.tenant == tenant)
        ).first()
        if row is None:
            return TenantPolicy()
        return TenantPolicy(require_dsse=bool(row.require_dsse), dsse_threshold=row.dsse_threshold)

    def set_policy(self, tenant: TenantId, policy: TenantPolicy, at: datetime) -> None:
        self.update_policy(tenant, lambda _current: policy, at)

    def update_policy(
        self, tenant: TenantId, change: Callable[[TenantPolicy], TenantPolicy], at: datetime
    ) -> TenantPolicy:
        def work(conn: Connection) -> TenantPolicy:
            self._lock_tenant(conn, tenant)
            policy = change(self._policy(conn, tenant))
            conn.execute(tenant_policies.delete().where(tenant_policies.c.tenant == tenant))
            conn.execute(
                tenant_policies.insert().values(
                    tenant=tenant,
                    require_dsse=policy.require_dsse,
                    dsse_threshold=policy.dsse_threshold,
                    updated_at=at,
                )
            )
            return policy

        result: TenantPolicy = self._in_tx(work)
        return result

    # -- service keys ----------------------------------------------------------------------
    def current_service_key(
        self, generate: Callable[[], tuple[str, bytes, bytes]], at: datetime
    ) -> bytes:
        k = service_keys.c

        def work(conn: Connection) -> bytes:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SERVICE_KEY_LOCK})
            row = conn.execute(
                sa.select(k.private_pem)
                .where(k.private_pem.is_not(None), k.retired_at.is_(None))
                .order_by(k.created_at)
                .limit(1)
            ).first()
            if row is not None:
                return bytes(row.private_pem)
            keyid, public_pem, private_pem = generate()
            conn.execute(service_keys.update().where(k.retired_at.is_(None)).values(retired_at=at))
            conn.execute(
                service_keys.insert().values(
                    keyid=keyid,
                    public_pem=public_pem.decode(),
                    private_pem=private_pem,
                    created_at=at,
                )
            )
            return private_pem

        pem: bytes = self._in_tx(work)
        return pem

    def register_service_key(self, keyid: str, public_pem: bytes, at: datetime) -> None:
        k = service_keys.c

        def work(conn: Connection) -> None:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SERVICE_KEY_LOCK})
            current = conn.execute(
                sa.select(k.keyid).where(k.keyid == keyid, k.retired_at.is_(None))
            ).first()
            if current is not None:
                return
            conn.execute(
                service_keys.update()
                .where(k.retired_at.is_(None), k.keyid != keyid)
                .values(retired_at=at)
            )
            if conn.execute(sa.select(k.keyid).where(k.keyid == keyid)).first() is None:
                conn.execute(
                    service_keys.insert().values(
                        keyid=keyid, public_pem=public_pem.decode(), created_at=at
                    )
                )
            else:  # a retired key brought back
                conn.execute(service_keys.update().where(k.keyid == keyid).values(retired_at=None))

        self._in_tx(work)

    def list_service_keys(self) -> list[ServiceKeyRecord]:
        k = service_keys.c
        query = sa.select(k.keyid, k.public_pem, k.created_at, k.retired_at).order_by(
            k.created_at, k.keyid
        )
        with self.engine.connect() as conn:
            return [
                ServiceKeyRecord(
                    keyid=row.keyid,
                    public_pem=row.public_pem.encode(),
                    created_at=_utc(row.created_at),
                    retired_at=_utc(row.retired_at) if row.retired_at is not None else None,
                )
                for row in conn.execute(query)
            ]

    # -- orphan queue ------------------------------------------------------------------
    def claim_orphans(
        self,
        now: datetime,
        *,
        worker: str,
        lease_seconds: float,
        limit: int,
        tenant: TenantId | None = None,
        graph_hash: str | None = None,
    ) -> list[OrphanItem]:
        q = orphan_queue.c

        def work(conn: Connection) -> list[OrphanItem]:
            query = sa.select(orphan_queue).where(
                sa.or_(q.lease_until.is_(None), q.lease_until < now)
            )
            if graph_hash is not None and tenant is not None:
                query = query.where(q.tenant == tenant, q.graph_hash == graph_hash)
            else:
                query = query.where(q.next_attempt_at <= now)
            query = query.order_by(q.next_attempt_at).limit(limit)
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(conn.execute(query))
            if rows:
                conn.execute(
                    orphan_queue.update()
                    .where(q.ingest_id.in_([r.ingest_id for r in rows]))
                    .values(lease_until=now + timedelta(seconds=lease_seconds), leased_by=worker)
                )
            return [
                OrphanItem(
                    ingest_id=r.ingest_id,
                    tenant=TenantId(r.tenant),
                    graph_hash=r.graph_hash,
                    queued_at=_utc(r.queued_at),
                    next_attempt_at=_utc(r.next_attempt_at),
                    attempts=r.attempts,
                )
                for r in rows
            ]

        claimed: list[OrphanItem] = self._in_tx(work)
        return claimed

    def _release(self, conn: Connection, item: OrphanItem, worker: str) -> bool:
        """Delete a leased queue row; False when another worker holds it now."""
        result = conn.execute(
            orphan_queue.delete().where(
                orphan_queue.c.ingest_id == item.ingest_id, orphan_queue.c.leased_by == worker
            )
        )
        return bool(result.rowcount)

    def _update_ingest(
        self, conn: Connection, ingest: IngestRecord, *, previous_event_id: str | None = None
    ) -> bool:
        """Write ``ingest`` over its row; with ``previous_event_id``, only while the row's
        receipt is still that one (compare and swap). False when nothing was written."""
        values = _ingest_values(ingest)
        del values["ingest_id"], values["tenant"]
        query = ingests.update().where(
            ingests.c.ingest_id == ingest.ingest_id, ingests.c.tenant == ingest.tenant
        )
        if previous_event_id is not None:
            query = query.where(ingests.c.timeline_event_id == previous_event_id)
        return bool(conn.execute(query.values(**values)).rowcount)

    def supersede_receipt(
        self, ingest: IngestRecord, event: EventDraft, *, previous_event_id: str
    ) -> TimelineEvent | None:
        def work(conn: Connection) -> TimelineEvent | None:
            self._lock_tenant(conn, ingest.tenant)
            if not self._update_ingest(conn, ingest, previous_event_id=previous_event_id):
                return None
            return self._append(conn, ingest.tenant, event)

        result: TimelineEvent | None = self._in_tx(work)
        return result

    def _finish_leased(
        self,
        item: OrphanItem,
        worker: str,
        ingest: IngestRecord,
        previous_event_id: str | None,
        rest: Any,
    ) -> TimelineEvent | None:
        """Release a leased orphan, write its ingest row, then ``rest(conn)`` (facts, event),
        all in one transaction. When the receipt changed since the worker read it (a DSSE
        was attached meanwhile), nothing is written and the item is unleased, due at once."""

        def work(conn: Connection) -> TimelineEvent | None:
            if not self._release(conn, item, worker):
                return None
            if not self._update_ingest(conn, ingest, previous_event_id=previous_event_id):
                raise _ReceiptChanged
            appended: TimelineEvent = rest(conn)
            return appended

        try:
            result: TimelineEvent | None = self._in_tx(work)
        except _ReceiptChanged:
            self._in_tx(
                lambda conn: conn.execute(
                    orphan_queue.update()
                    .where(
                        orphan_queue.c.ingest_id == item.ingest_id,
                        orphan_queue.c.leased_by == worker,
                    )
                    .values(lease_until=None, leased_by=None)
                )
            )
            return None
        return result

    def finish_orphan(
        self,
        item: OrphanItem,
        *,
        worker: str,
        ingest: IngestRecord,
        facts: Sequence[FactRow],
        event: EventDraft,
        previous_event_id: str | None = None,
    ) -> TimelineEvent | None:
        def rest(conn: Connection) -> TimelineEvent:
            self._insert_facts(conn, ingest, facts)
            return self._append(conn, ingest.tenant, event)

        return self._finish_leased(item, worker, ingest, previous_event_id, rest)

    def expire_orphan(
        self,
        item: OrphanItem,
        *,
        worker: str,
        ingest: IngestRecord,
        event: EventDraft,
        previous_event_id: str | None = None,
    ) -> TimelineEvent | None:
        return self._finish_leased(
            item,
            worker,
            ingest,
            previous_event_id,
            lambda conn: self._append(conn, ingest.tenant, event),
        )

    def reschedule_orphan(
        self, item: OrphanItem, *, worker: str, next_attempt_at: datetime
    ) -> bool:
        def work(conn: Connection) -> bool:
            result = conn.execute(
                orphan_queue.update()
                .where(
                    orphan_queue.c.ingest_id == item.ingest_id,
                    orphan_queue.c.leased_by == worker,
                )
                .values(
                    next_attempt_at=next_attempt_at,
                    attempts=item.attempts + 1,
                    lease_until=None,
                    leased_by=None,
                )
            )
            return bool(result.rowcount)

        done: bool = self._in_tx(work)
        return done

    def orphan_queue_depth(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(orphan_queue)).scalar_one()
            )

    # -- what ran ------------------------------------------------------------------------
    def _graph_facts(self, tenant: TenantId, graph_hash: str) -> Any:
        return (
            sa.select(facts)
            .join(ingests, ingests.c.ingest_id == facts.c.ingest_id)
            .where(
                facts.c.tenant == tenant,
                ingests.c.tenant == tenant,
                ingests.c.graph_hash == graph_hash,
                ingests.c.status == "ingested",
                facts.c.node.is_not(None),
            )
            .subquery()
        )

    def observed_nodes(self, tenant: TenantId, graph_hash: str) -> dict[str, NodeObservation]:
        f = self._graph_facts(tenant, graph_hash)
        query = sa.select(
            f.c.node,
            sa.func.sum(f.c["count"]).label("hits"),
            sa.func.min(f.c.first_seen).label("first_seen"),
            sa.func.max(f.c.last_seen).label("last_seen"),
        ).group_by(f.c.node)
        with self.engine.connect() as conn:
            return {
                row.node: NodeObservation(
                    node=row.node,
                    hits=int(row.hits),
                    first_seen=_parsed_time(row.first_seen),
                    last_seen=_parsed_time(row.last_seen),
                )
                for row in conn.execute(query)
            }

    def node_details(
        self, tenant: TenantId, graph_hash: str, nodes: Sequence[str]
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        if not nodes:
            return {}
        f = self._graph_facts(tenant, graph_hash)
        query = (
            sa.select(f.c.node, f.c.container, f.c.ingest_id)
            .where(f.c.node.in_(list(nodes)))
            .distinct()
        )
        containers: dict[str, set[str]] = {}
        ingest_ids: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                if row.container is not None:
                    containers.setdefault(row.node, set()).add(row.container)
                ingest_ids.setdefault(row.node, set()).add(row.ingest_id)
        return {
            node: (tuple(sorted(containers.get(node, ()))), tuple(sorted(ingest_ids.get(node, ()))))
            for node in nodes
        }

    # -- time anchors ----------------------------------------------------------------------
    def add_time_anchor(
        self,
        tenant: TenantId,
        *,
        counter: int,
        anchor_time: datetime,
        envelope: bytes,
        at: datetime,
    ) -> bool:
        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, tenant)
            highest = conn.execute(
                sa.select(sa.func.max(time_anchors.c.counter)).where(
                    time_anchors.c.tenant == tenant
                )
            ).scalar_one()
            if highest is not None and counter <= highest:
                return False
            conn.execute(
                time_anchors.insert().values(
                    tenant=tenant,
                    counter=counter,
                    anchor_time=anchor_time,
                    envelope=envelope,
                    imported_at=at,
                )
            )
            return True

        added: bool = self._in_tx(work)
        return added

    def latest_time_anchor(self, tenant: TenantId) -> tuple[int, bytes] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(time_anchors.c.counter, time_anchors.c.envelope)
                .where(time_anchors.c.tenant == tenant)
                .order_by(time_anchors.c.counter.desc())
                .limit(1)
            ).first()
        return (int(row.counter), bytes(row.envelope)) if row is not None else None

    def append_event_once(
        self, tenant: TenantId, event: EventDraft, *, same: Mapping[str, Any]
    ) -> TimelineEvent | None:
        def work(conn: Connection) -> TimelineEvent | None:
            self._lock_tenant(conn, tenant)
            bodies = conn.execute(
                sa.select(timeline_events.c.body).where(
                    timeline_events.c.tenant == tenant,
                    timeline_events.c.event_type == event.event_type,
                )
            )
            for row in bodies:
                attributes = parse_event(row.body.encode()).attributes
                if all(attributes.get(key) == value for key, value in same.items()):
                    return None
            return self._append(conn, tenant, event)

        appended: TimelineEvent | None = self._in_tx(work)
        return appended

    # -- sync ------------------------------------------------------------------------------
    def import_event(
        self, tenant: TenantId, origin_event_id: str, event: EventDraft, at: datetime
    ) -> TimelineEvent | None:
        def work(conn: Connection) -> TimelineEvent | None:
            self._lock_tenant(conn, tenant)
            seen = conn.execute(
                sa.select(imported_events.c.event_id).where(
                    imported_events.c.tenant == tenant,
                    imported_events.c.origin_event_id == origin_event_id,
                )
            ).first()
            if seen is not None:
                return None
            appended = self._append(conn, tenant, event)
            conn.execute(
                imported_events.insert().values(
                    tenant=tenant,
                    origin_event_id=origin_event_id,
                    event_id=appended.event_id,
                    imported_at=at,
                )
            )
            return appended

        result: TimelineEvent | None = self._in_tx(work)
        return result

    def imported_event_id(self, tenant: TenantId, origin_event_id: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(imported_events.c.event_id).where(
                    imported_events.c.tenant == tenant,
                    imported_events.c.origin_event_id == origin_event_id,
                )
            ).first()
        return None if row is None else str(row.event_id)

    def import_evidence(
        self,
        tenant: TenantId,
        *,
        ingest_id: str,
        bundle_sha256: str,
        receipt: Mapping[str, Any],
        receipt_dsse: bytes,
        at: datetime,
    ) -> bool:
        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, tenant)
            seen = conn.execute(
                sa.select(imported_evidence.c.ingest_id).where(
                    imported_evidence.c.tenant == tenant,
                    imported_evidence.c.ingest_id == ingest_id,
                )
            ).first()
            if seen is not None:
                return False
            conn.execute(
                imported_evidence.insert().values(
                    tenant=tenant,
                    ingest_id=ingest_id,
                    bundle_sha256=bundle_sha256,
                    receipt=json.dumps(dict(receipt)),
                    receipt_dsse=receipt_dsse,
                    imported_at=at,
                )
            )
            return True

        added: bool = self._in_tx(work)
        return added

    def get_imported_evidence(self, tenant: TenantId, ingest_id: str) -> ImportedEvidence | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(imported_evidence).where(
                    imported_evidence.c.tenant == tenant,
                    imported_evidence.c.ingest_id == ingest_id,
                )
            ).first()
        if row is None:
            return None
        return ImportedEvidence(
            ingest_id=row.ingest_id,
            receipt=json.loads(row.receipt),
            receipt_dsse=bytes(row.receipt_dsse),
            bundle_sha256=row.bundle_sha256,
            imported_at=_utc(row.imported_at),
        )


def _key_of(row: Any) -> TrustedKey:
    return TrustedKey(
        tenant=TenantId(row.tenant),
        purpose=KeyPurpose(row.purpose),
        keyid=row.keyid,
        public_pem=row.public_pem.encode(),
        added_at=_utc(row.added_at),
        revoked_at=_utc(row.revoked_at) if row.revoked_at is not None else None,
    )


def _ingest_values(ingest: IngestRecord) -> dict[str, Any]:
    return {
        "ingest_id": ingest.ingest_id,
        "tenant": ingest.tenant,
        "status": ingest.status,
        "received_at": ingest.received_at,
        "content_sha256": ingest.content_sha256,
        "graph_hash": ingest.graph_hash,
        "size": ingest.size,
        "reason": ingest.reason,
        "detail": ingest.detail,
        "receipt": json.dumps(dict(ingest.receipt)) if ingest.receipt is not None else None,
        "receipt_dsse": ingest.receipt_dsse,
        "timeline_event_id": ingest.timeline_event_id,
    }


def _parsed_time(value: Any) -> datetime:
    """Aggregates over DateTime columns come back as text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _utc(value)


def _sqlite_time(moment: datetime) -> str:
    """SQLAlchemy's SQLite storage format for DateTime (``YYYY-MM-DD HH:MM:SS.ffffff``), UTC."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _ingest_of(row: Any) -> IngestRecord:
    receipt: Mapping[str, Any] | None = json.loads(row.receipt) if row.receipt else None
    return IngestRecord(
        ingest_id=row.ingest_id,
        tenant=TenantId(row.tenant),
        status=row.status,
        received_at=_utc(row.received_at),
        content_sha256=row.content_sha256,
        graph_hash=row.graph_hash,
        size=row.size,
        reason=row.reason,
        detail=row.detail,
        receipt=receipt,
        receipt_dsse=row.receipt_dsse,
        timeline_event_id=row.timeline_event_id,
    )


def _disk_full(error: BaseException) -> bool:
    """SQLite's SQLITE_FULL, PostgreSQL's ``disk_full`` (SQLSTATE 53100)."""
    if getattr(error, "sqlstate", None) == "53100":
        return True
    return "database or disk is full" in str(error)


def _unavailable_on_connection_errors(engine: Engine) -> None:
    """A database that cannot be reached (down, restarting, refusing connections, locked
    past the busy timeout) is `Unavailable` — HTTP 503 with Retry-After — wherever the
    query was issued. The pool drops the broken connections (``is_disconnect``)."""

    @sa.event.listens_for(engine, "handle_error")
    def _handle(context: sa.engine.ExceptionContext) -> None:
        original = context.original_exception
        if _disk_full(original):
            raise InsufficientStorage("metadata store: disk full") from context.sqlalchemy_exception
        if context.is_disconnect or isinstance(
            context.sqlalchemy_exception, sa.exc.OperationalError
        ):
            raise Unavailable(
                f"metadata store unavailable: {type(original).__name__}: "
                f"{str(original).strip().splitlines()[0] if str(original).strip() else ''}"
            ) from context.sqlalchemy_exception


def _sqlite_setup(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("stella_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _tenants_json(tenants: frozenset[str]) -> str:
    """The one spelling of a token's tenants (sorted JSON array): `_tokens_of` matches it."""
    return json.dumps(sorted(tenants))


def _tokens_of(tenant: TenantId | None) -> sa.Select[Any]:
    """Tokens a tenant's admin manages: those that allow that tenant alone. A token that
    spans tenants is the operator's (another tenant's admin must not cut it off)."""
    query = sa.select(tokens)
    if tenant is not None:
        query = query.where(tokens.c.tenants == _tenants_json(frozenset({tenant})))
    return query


def _token_of(row: Any) -> TokenRecord:
    return TokenRecord(
        token_id=row.token_id,
        tenants=frozenset(json.loads(row.tenants)),
        scopes=frozenset(json.loads(row.scopes)),
        created_at=_utc(row.created_at),
        expires_at=_utc(row.expires_at) if row.expires_at is not None else None,
        revoked_at=_utc(row.revoked_at) if row.revoked_at is not None else None,
    )
