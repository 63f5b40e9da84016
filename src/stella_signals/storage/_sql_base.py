"""What every SQL adapter shares: one engine per database, its write transactions, the
tenant lock and the timeline append that writes join.

Every write that appends a timeline event runs in one transaction that first takes the
tenant's chain lock (SQLite: ``BEGIN IMMEDIATE`` serialises writers; PostgreSQL: a
transaction-scoped advisory lock per tenant, so servers append to different tenants in
parallel), reads the tenant's last event and appends the next one. The chain never forks,
and an ingest is recorded with its facts and event, or not at all.

Group commit (issue 19): on SQLite, concurrent ingest commits share one transaction, so one
fsync of the database serves them all (`_in_group_tx`). PostgreSQL commits each on its own:
it already flushes the WAL of concurrent commits together, and a group there would hold one
tenant's lock while it waited for another's (a commit of any tenant stalled behind a tenant
busy on another server, and deadlocks between servers receiving the same bytes). Each
caller still returns only after that transaction committed, so an answered ingest is as
durable as before; and a group that fails in any way (a refused row, a lost race, an
outage, a failed COMMIT) is rolled back whole and each of its writes run again alone in a
transaction of its own, exactly as they ran before grouping: no caller sees an outcome that
depends on its neighbours.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from stella_signals.errors import InvalidConfig
from stella_signals.ports import EventDraft
from stella_signals.storage import _sql_errors
from stella_signals.storage._reads import Page
from stella_signals.storage._schema import HEAD_REVISION, timeline_events
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent, parse_event

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "SqlDatabase",
    "engine_url",
    "parsed_time",
    "past_cursor",
    "record_of",
    "row_of",
    "sqlite_time",
    "sqlite_url",
    "utc",
]

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")

#: Attempts of a write that lost a race (a unique key taken by a concurrent writer).
_APPEND_ATTEMPTS = 5
#: Writes one group transaction carries at most (bounded latency for the first of them).
_GROUP_MAX = 64
#: PostgreSQL advisory lock keys: migrations (one key), tenant chains (a namespace).
_MIGRATION_LOCK = 0x5374656C6C61  # "Stella"
_CHAIN_LOCK_NAMESPACE = 0x5354  # "ST"
#: ``YYYY-MM-DD HH:MM:SS.ffffff``: `sqlite_time`'s text.
_SQLITE_TIME_CHARS = 26


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


def utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parsed_time(value: Any) -> datetime:
    """Aggregates over DateTime columns come back as text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value)


def record_of(cls: type[D], row: Any, **decode: Callable[[Any], Any]) -> D:
    """The record ``cls`` (a dataclass whose fields are columns of ``row``) as stored:
    each field named in ``decode`` through its decoder, every other time as UTC (`utc`),
    the rest as the database returns it."""
    columns = row._mapping
    values: dict[str, Any] = {}
    for field in fields(cls):
        value = columns[field.name]
        if field.name in decode:
            value = decode[field.name](value)
        elif isinstance(value, datetime):
            value = utc(value)
        values[field.name] = value
    return cls(**values)


def row_of(record: DataclassInstance, **encode: Callable[[Any], Any]) -> dict[str, Any]:
    """The columns of ``record`` (`record_of`'s inverse): its fields, each named in
    ``encode`` through its encoder."""
    return {
        field.name: encode[field.name](value) if field.name in encode else value
        for field in fields(record)
        for value in (getattr(record, field.name),)
    }


def sqlite_time(moment: datetime) -> str:
    """SQLAlchemy's SQLite storage format for DateTime (``YYYY-MM-DD HH:MM:SS.ffffff``), UTC."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # The aware form's text up to its "+00:00": one call fewer than dropping the zone first,
    # for the 2 * 10^5 fact times of a large ingest (issue 19).
    return moment.isoformat(" ", "microseconds")[:_SQLITE_TIME_CHARS]


def past_cursor(key: list[Any], cursor: tuple[Any, ...], *, descending: bool = False) -> Any:
    """The key (k1, k2, ...) past ``cursor`` in the page's order, spelt out for every
    database: k1 past, or k1 equal and k2 past, or..."""
    past = [
        column < value if descending else column > value
        for column, value in zip(key, cursor, strict=True)
    ]
    return sa.or_(
        *(
            sa.and_(*(c == v for c, v in zip(key[:i], cursor[:i], strict=True)), past[i])
            for i in range(len(key))
        )
    )


class SqlDatabase:
    """One SQLAlchemy engine and the transactions every SQL store runs in. Construct with a
    database URL; call `migrate` once. Each store of ``storage/_sql_*.py`` is one of these, so
    a store works alone, and `SqlRepository` is every store over one engine."""

    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        options: dict[str, Any] = {}
        if self.url.startswith("postgresql"):
            # A bounded pool per process; connection attempts fail fast so a database outage
            # answers 503 at once instead of hanging the request. A pooled connection the
            # server dropped is noticed before use (a ping per checkout).
            options |= {"pool_size": 8, "max_overflow": 8, "pool_timeout": 10}
            options |= {"pool_pre_ping": True}
            options["connect_args"] = {"connect_timeout": 5, "application_name": "stella-signals"}
        elif sa.engine.make_url(self.url).database not in (None, "", ":memory:"):
            # A file on this host: no connection to lose, so no ping per checkout; and as
            # many pooled connections as the server runs requests at once (the API's worker
            # threads), so that none is opened, set up and closed per request (issue 19).
            options |= {"pool_size": 40, "max_overflow": 16}
        self.engine: Engine = sa.create_engine(self.url, **options)
        self.dialect = self.engine.dialect.name
        self._writer_lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()
        self._group = _GroupCommit(self)
        self._heads = _ChainHeads()
        _sql_errors.install(self.engine)
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
            self._writer_lock = threading.Lock()

    def __repr__(self) -> str:
        redacted = sa.engine.make_url(self.url).render_as_string(hide_password=True)
        return f"{type(self).__name__}({redacted!r})"

    # -- schema ------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (Alembic), whoever else is starting. A database
        already at the head revision this code ships (`HEAD_REVISION`: the usual restart) is
        left as it is without loading Alembic, which is a fifth of a server's start-up; what
        `alembic upgrade head` would do there is nothing, too."""
        if revision == "head" and self.revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

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

    def revision(self) -> str | None:
        """The schema revision the database records (Alembic's ``alembic_version``); None
        for a database no migration has touched."""
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            found = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            versions = [str(row[0]) for row in found]
        return versions[0] if len(versions) == 1 else None

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """`Unavailable` unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise _sql_errors.unavailable(exc) from exc

    # -- transactions ------------------------------------------------------------------
    def _write(self) -> Any:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return self.engine.connect().execution_options(stella_write=True)

    def _in_tx(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in a write transaction, retrying lost timeline races.

        On SQLite the writers of this process also queue on a lock: SQLite's own busy
        handler sleeps in growing steps, which turned contention into 4 s tail latencies.
        """
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                with self._writer_lock, self._write() as conn, conn.begin():
                    return work(conn)
            except sa.exc.SQLAlchemyError as exc:
                if _sql_errors.lost_chain_race(exc) and attempt < _APPEND_ATTEMPTS - 1:
                    continue
                # Errors the engine's handler did not see (e.g. raised by the pool).
                translated = _sql_errors.database_error(exc)
                if translated is not None:
                    raise translated from exc
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _in_group_tx(self, work: Callable[[Connection], T], *, tenant: TenantId) -> T:
        """`_in_tx`, sharing the transaction (and its fsync) with concurrent callers of this
        method on SQLite, whose writers are serialised anyway; ``work`` must be safe to run
        again alone (it is, when its group fails). Elsewhere a transaction of its own (see
        the module's docstring)."""
        if self.dialect != "sqlite":
            return self._in_tx(work)
        return self._group.run(work, tenant)

    @staticmethod
    def _find(conn: Connection, table: sa.Table, tenant: TenantId, **key: Any) -> Any:
        """The tenant's row of ``table`` whose columns equal ``key``, or None."""
        where = [table.c.tenant == tenant] + [table.c[k] == v for k, v in key.items()]
        return conn.execute(sa.select(table).where(*where)).first()

    def _add_once(
        self,
        table: sa.Table,
        tenant: TenantId,
        values: dict[str, Any],
        *,
        key: tuple[str, ...],
        event: EventDraft | None = None,
    ) -> bool:
        """Insert the tenant's row ``values`` (and append ``event``) in one transaction
        under the tenant lock; False, nothing written, when a row with the same ``key``
        columns is there."""

        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, tenant)
            if self._find(conn, table, tenant, **{k: values[k] for k in key}) is not None:
                return False
            conn.execute(table.insert().values({**values, "tenant": tenant}))
            if event is not None:
                self._append(conn, tenant, event)
            return True

        return self._in_tx(work)

    def _select_page(self, table: sa.Table, page: Page) -> list[Any]:
        """The rows of ``table`` that `Page.select` would choose, in its order."""
        key = [table.c[name] for name in page.order]
        where = [table.c.tenant == page.tenant]
        where += [table.c[name] == value for name, value in page.equal.items()]
        where += [table.c[name] >= value for name, value in page.at_least.items()]
        if page.after is not None:
            where.append(past_cursor(key, page.after, descending=page.descending))
        query = sa.select(table).where(*where)
        query = query.order_by(*(column.desc() if page.descending else column for column in key))
        if page.limit is not None:
            query = query.limit(page.limit)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def _get(self, table: sa.Table, tenant: TenantId, **key: Any) -> Any:
        """`_find` in a read transaction of its own."""
        with self.engine.connect() as conn:
            return self._find(conn, table, tenant, **key)

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

    def _append(
        self, conn: Connection, tenant: TenantId, draft: EventDraft, *, locked: bool = False
    ) -> TimelineEvent:
        """Chain ``draft`` after the tenant's last event, in the caller's transaction
        (``locked``: which holds the tenant's lock already)."""
        return self._append_many(conn, tenant, [draft], locked=locked)[0]

    def _append_many(
        self,
        conn: Connection,
        tenant: TenantId,
        drafts: list[EventDraft],
        *,
        locked: bool = False,
    ) -> list[TimelineEvent]:
        """Chain ``drafts`` in order after the tenant's last event, in the caller's
        transaction: the last event is read once and the events inserted in one batch. The
        tenant's lock is taken unless the caller says it holds it (``locked``: a round trip
        to PostgreSQL fewer per ingest)."""
        if not locked:
            self._lock_tenant(conn, tenant)
        row = conn.execute(_LAST_EVENT, {"tenant": tenant}).first()
        previous = None if row is None else self._heads.event(tenant, row.seq, row.hash, row.body)
        events: list[TimelineEvent] = []
        for draft in drafts:
            previous = draft.chained_after(previous, tenant)
            events.append(previous)
        if events:
            self._heads.remember(events[-1])
            conn.execute(
                timeline_events.insert(),
                [
                    {
                        "tenant": tenant,
                        "seq": event.seq,
                        "event_id": event.event_id,
                        "event_type": event.event_type,
                        "occurred_at": draft.occurred_at,
                        "hash": event.hash,
                        "body": event.canonical_bytes().decode(),
                    }
                    for draft, event in zip(drafts, events, strict=True)
                ],
            )
        return events


class _GroupJob:
    """One write waiting for a group transaction: its outcome, or the word to lead one."""

    __slots__ = ("alone", "lead", "ready", "result", "tenant", "work")

    def __init__(self, work: Callable[[Connection], Any], tenant: TenantId) -> None:
        self.work = work
        self.tenant = tenant
        self.ready = threading.Event()
        self.lead = False  # this job's thread runs the next group
        self.alone = False  # the group failed: run it in a transaction of its own
        self.result: Any = None


class _GroupCommit:
    """Leader/follower group commit. A caller queues its write; if no group is running it
    leads: it takes the queue (up to `_GROUP_MAX`), runs every write in one transaction in
    queue order (by tenant, so concurrent servers take PostgreSQL's tenant locks in one
    order), commits once and wakes the others with their results; then it hands the lead to
    the first write still queued. Writes arriving meanwhile wait for the next group: under
    load a group carries every write that arrived during the previous commit."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._mutex = threading.Lock()
        self._queue: list[_GroupJob] = []
        self._running = False

    def run(self, work: Callable[[Connection], T], tenant: TenantId) -> T:
        job = _GroupJob(work, tenant)
        with self._mutex:
            self._queue.append(job)
            job.lead = not self._running
            self._running = True
        if not job.lead:
            try:
                job.ready.wait()
            except BaseException:  # interrupted while queued: never leave the lead with nobody
                with self._mutex:
                    queued = job in self._queue and not job.lead
                    if queued:
                        self._queue.remove(job)
                if not queued and job.lead:
                    self._lead()
                raise
        if job.lead:
            self._lead()
        if job.alone:
            return self._db._in_tx(work)
        result: T = job.result
        return result

    def _lead(self) -> None:
        with self._mutex:
            batch, self._queue = self._queue[:_GROUP_MAX], self._queue[_GROUP_MAX:]
        try:
            self._commit(batch)
        except BaseException:
            for job in batch:
                job.alone = True
            raise
        finally:
            with self._mutex:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.ready.set()
                else:
                    self._running = False
            for job in batch:
                job.lead = False
                job.ready.set()

    def _commit(self, batch: list[_GroupJob]) -> None:
        ordered = sorted(batch, key=lambda job: job.tenant)
        try:
            with self._db._writer_lock, self._db._write() as conn, conn.begin():
                for job in ordered:
                    job.result = job.work(conn)
        except Exception:
            for job in batch:
                job.alone = True


class _ChainHeads:
    """The last event of each tenant's chain as this process last appended it, so that the
    next append need not parse it again from its stored body (issue 19: every ingest's commit
    did). Only a hint: an entry serves only when the database's last row has its ``seq`` and
    ``hash`` (which covers the whole event), so an entry left by a transaction that rolled
    back, or overtaken by another process's append, is never used. Bounded: forgotten whole
    past `_CHAIN_HEADS` tenants."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, TimelineEvent] = {}

    def event(self, tenant: TenantId, seq: int, hash_: str, body: str) -> TimelineEvent:
        """The stored last event of ``tenant`` (``seq``, ``hash_``, ``body`` of its row)."""
        known = self._events.get(tenant)
        if known is not None and known.seq == seq and known.hash == hash_:
            return known
        return parse_event(body.encode())

    def remember(self, event: TimelineEvent) -> None:
        with self._lock:
            if len(self._events) >= _CHAIN_HEADS and event.tenant not in self._events:
                self._events.clear()
            self._events[event.tenant] = event


#: Tenants whose chain head a process remembers (`_ChainHeads`): events are small (about a
#: kilobyte), at most `MAX_EVENT_BYTES` (64 KiB), so the cache stays under 64 MiB whatever
#: the tenants append.
_CHAIN_HEADS = 1024

#: A tenant's last event, built once: every ingest's commit reads it (issue 19).
_LAST_EVENT = (
    sa.select(timeline_events.c.seq, timeline_events.c.hash, timeline_events.c.body)
    .where(timeline_events.c.tenant == sa.bindparam("tenant"))
    .order_by(timeline_events.c.seq.desc())
    .limit(1)
)


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
