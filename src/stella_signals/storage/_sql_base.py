"""What every SQL adapter shares: one engine per database, its write transactions, the
tenant lock and the timeline append that writes join.

Every write that appends a timeline event runs in one transaction that first takes the
tenant's chain lock (SQLite: ``BEGIN IMMEDIATE`` serialises writers; PostgreSQL: a
transaction-scoped advisory lock per tenant, so servers append to different tenants in
parallel), reads the tenant's last event and appends the next one. The chain never forks,
and an ingest is recorded with its facts and event, or not at all.
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
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from stella_signals.errors import InvalidConfig
from stella_signals.ports import EventDraft
from stella_signals.storage import _sql_errors
from stella_signals.storage._reads import Page
from stella_signals.storage._schema import timeline_events
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
#: PostgreSQL advisory lock keys: migrations (one key), tenant chains (a namespace).
_MIGRATION_LOCK = 0x5374656C6C61  # "Stella"
_CHAIN_LOCK_NAMESPACE = 0x5354  # "ST"


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
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


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
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.url.startswith("postgresql"):
            # A bounded pool per process; connection attempts fail fast so a database outage
            # answers 503 at once instead of hanging the request.
            options |= {"pool_size": 8, "max_overflow": 8, "pool_timeout": 10}
            options["connect_args"] = {"connect_timeout": 5, "application_name": "stella-signals"}
        self.engine: Engine = sa.create_engine(self.url, **options)
        self.dialect = self.engine.dialect.name
        self._writer_lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()
        _sql_errors.install(self.engine)
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
            self._writer_lock = threading.Lock()

    def __repr__(self) -> str:
        redacted = sa.engine.make_url(self.url).render_as_string(hide_password=True)
        return f"{type(self).__name__}({redacted!r})"

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

    def _append(self, conn: Connection, tenant: TenantId, draft: EventDraft) -> TimelineEvent:
        """Chain ``draft`` after the tenant's last event, in the caller's transaction."""
        return self._append_many(conn, tenant, [draft])[0]

    def _append_many(
        self, conn: Connection, tenant: TenantId, drafts: list[EventDraft]
    ) -> list[TimelineEvent]:
        """Chain ``drafts`` in order after the tenant's last event, in the caller's
        transaction: the last event is read once and the events inserted in one batch."""
        self._lock_tenant(conn, tenant)
        row = conn.execute(
            sa.select(timeline_events.c.body)
            .where(timeline_events.c.tenant == tenant)
            .order_by(timeline_events.c.seq.desc())
            .limit(1)
        ).first()
        previous = parse_event(row.body.encode()) if row is not None else None
        events: list[TimelineEvent] = []
        for draft in drafts:
            previous = draft.chained_after(previous, tenant)
            events.append(previous)
        if events:
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
