"""Runtime ingests, facts and receipts on SQL (`IngestStore`)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import (
    EdgeObservation,
    EdgeRow,
    EventDraft,
    FactRow,
    IngestRecord,
    NodeObservation,
    OrphanItem,
)
from stella_signals.storage._reads import IngestReads, Page
from stella_signals.storage._schema import facts, graphs, ingests, observed_edges, orphan_queue
from stella_signals.storage._sql_base import (
    SqlDatabase,
    parsed_time,
    past_cursor,
    record_of,
    row_of,
    sqlite_time,
    utc,
)
from stella_signals.storage._sql_verdicts import mark_graph_changed
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["SqlIngestStore", "insert_edges", "insert_facts", "update_ingest"]

#: Rows per INSERT batch for facts and edges (bounded memory whatever the trace).
_FACT_BATCH = 5000
#: The accepted ingest of these bytes for this graph, built once (issue 19). The statuses
#: are rendered as literals: only then can SQLite see that the query implies the partial
#: unique index ``ux_ingests_accepted`` (with bound values it scanned the tenant's ingests).
_FIND_DUPLICATE = sa.select(ingests).where(
    ingests.c.tenant == sa.bindparam("tenant"),
    ingests.c.content_sha256 == sa.bindparam("content_sha256"),
    ingests.c.graph_hash == sa.bindparam("graph_hash"),
    ingests.c.status.in_(
        sa.bindparam("accepted", ("ingested", "orphaned"), expanding=True, literal_execute=True)
    ),
)
#: The ingest row's insert, its values passed as parameters (compiled once, not per row).
_INSERT_INGEST = ingests.insert()


class SqlIngestStore(IngestReads, SqlDatabase):
    """`IngestStore` over a SQL database."""

    def commit_ingest(
        self,
        ingest: IngestRecord,
        facts_: Sequence[FactRow],
        event: EventDraft,
        edges: Sequence[EdgeRow] = (),
    ) -> TimelineEvent:
        def work(conn: Connection) -> TimelineEvent:
            # The tenant's lock before the ingest's row: a server that inserted the row first
            # and then waited for the lock would deadlock with one holding the lock and
            # inserting the same bytes (PostgreSQL's unique index waits for our row).
            self._lock_tenant(conn, ingest.tenant)
            conn.execute(_INSERT_INGEST, _ingest_values(ingest))
            insert_facts(conn, self.dialect, ingest, facts_)
            insert_edges(conn, self.dialect, ingest, edges)
            appended = self._append(conn, ingest.tenant, event, locked=True)
            if ingest.status == "ingested":  # the graph's registered pairs are due again
                mark_graph_changed(conn, ingest.tenant, ingest.graph_hash)
            if ingest.status == "orphaned":
                # Under the tenant's lock a graph is either committed already (it arrived
                # while this trace was parsed, and its release pass cannot see this row) or
                # it commits after us and its pass releases us.
                arrived = conn.execute(
                    sa.select(graphs.c.graph_hash).where(
                        graphs.c.tenant == ingest.tenant, graphs.c.graph_hash == ingest.graph_hash
                    )
                ).first()
                item = OrphanItem.queued(ingest, graph_known=arrived is not None)
                conn.execute(orphan_queue.insert().values(row_of(item)))
            return appended

        # A second accepted ingest of the same bytes is `Conflict` (storage/_sql_errors.py).
        # Concurrent commits share a transaction (group commit); run alone when one fails.
        return self._in_group_tx(work, tenant=ingest.tenant)

    def record_failure(self, ingest: IngestRecord, event: EventDraft) -> TimelineEvent:
        def work(conn: Connection) -> TimelineEvent:
            conn.execute(ingests.insert().values(**_ingest_values(ingest)))
            return self._append(conn, ingest.tenant, event)

        return self._in_tx(work)

    def supersede_receipt(
        self, ingest: IngestRecord, event: EventDraft, *, previous_event_id: str
    ) -> TimelineEvent | None:
        def work(conn: Connection) -> TimelineEvent | None:
            self._lock_tenant(conn, ingest.tenant)
            if not update_ingest(conn, ingest, previous_event_id=previous_event_id):
                return None
            return self._append(conn, ingest.tenant, event, locked=True)

        return self._in_tx(work)

    def find_duplicate(
        self, tenant: TenantId, content_sha256: str, graph_hash: str
    ) -> IngestRecord | None:
        key = {"tenant": tenant, "content_sha256": content_sha256, "graph_hash": graph_hash}
        with self.engine.connect() as conn:
            row = conn.execute(_FIND_DUPLICATE, key).first()
        return _ingest_of(row) if row is not None else None

    def get_ingest(self, tenant: TenantId, ingest_id: str) -> IngestRecord | None:
        row = self._get(ingests, tenant, ingest_id=ingest_id)
        return _ingest_of(row) if row is not None else None

    def _ingest_page(self, page: Page) -> list[IngestRecord]:
        return [_ingest_of(row) for row in self._select_page(ingests, page)]

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
                    first_seen=utc(row.first_seen),
                    last_seen=utc(row.last_seen),
                    node=row.node,
                )
                for row in rows
            ]

    def list_edges(self, tenant: TenantId, ingest_id: str) -> list[EdgeRow]:
        e = observed_edges.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    e.caller_symbol_id, e.symbol_id, e["count"], e.caller_node, e.callee_node,
                    e.in_graph,
                )
                .where(e.tenant == tenant, e.ingest_id == ingest_id)
                .order_by(e.seq)
            )  # fmt: skip
            return [EdgeRow(r[0], r[1], int(r[2]), r[3], r[4], bool(r[5])) for r in rows]

    def _edge_page(self, graph_hash: str, page: Page) -> list[EdgeObservation]:
        tenant, after, in_graph = page.tenant, page.after, page.equal.get("in_graph")
        e = observed_edges.c
        # Sorted as Python sorts strings (code points): byte order on PostgreSQL too.
        caller, callee = self._bytewise(e.caller_symbol_id), self._bytewise(e.symbol_id)
        scope = [e.tenant == tenant, *_ingested(tenant, graph_hash)]
        if after is not None:
            scope.append(past_cursor([caller, callee], after))
        joined = observed_edges.join(ingests, ingests.c.ingest_id == e.ingest_id)
        known = sa.func.max(sa.case((e.in_graph, 1), else_=0))
        query = (
            sa.select(
                e.caller_symbol_id,
                e.symbol_id,
                sa.func.min(e.caller_node),
                sa.func.min(e.callee_node),
                known,
                sa.func.sum(e["count"]),
            )
            .select_from(joined)
            .where(*scope)
            .group_by(e.caller_symbol_id, e.symbol_id)
            .order_by(caller, callee)
        )
        if in_graph is not None:
            query = query.having(known == (1 if in_graph else 0))
        if page.limit is not None:
            query = query.limit(page.limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return []
            seen: dict[tuple[str, str], set[str]] = {(r[0], r[1]): set() for r in rows}
            by = conn.execute(
                sa.select(e.caller_symbol_id, e.symbol_id, e.ingest_id)
                .select_from(joined)
                .where(*scope, e.caller_symbol_id.in_({r[0] for r in rows}))
                .distinct()
            )
            for row in by:
                ids = seen.get((row[0], row[1]))
                if ids is not None:
                    ids.add(row[2])
        return [
            EdgeObservation(
                caller_symbol_id=r[0],
                symbol_id=r[1],
                caller_node=r[2],
                callee_node=r[3],
                in_graph=bool(r[4]),
                count=int(r[5]),
                ingest_ids=tuple(sorted(seen[(r[0], r[1])])),
            )
            for r in rows
        ]

    def _bytewise(self, column: Any) -> Any:
        """``column`` compared and sorted by code point (Python's order), whatever the
        database's default collation."""
        return column.collate("C") if self.dialect == "postgresql" else column

    def _graph_facts(self, tenant: TenantId, graph_hash: str) -> Any:
        return (
            sa.select(facts)
            .join(ingests, ingests.c.ingest_id == facts.c.ingest_id)
            .where(
                facts.c.tenant == tenant, *_ingested(tenant, graph_hash), facts.c.node.is_not(None)
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
                    first_seen=parsed_time(row.first_seen),
                    last_seen=parsed_time(row.last_seen),
                )
                for row in conn.execute(query)
            }

    def _node_uses(
        self, tenant: TenantId, graph_hash: str, nodes: Sequence[str]
    ) -> list[tuple[str, str | None, str]]:
        f = self._graph_facts(tenant, graph_hash)
        query = (
            sa.select(f.c.node, f.c.container, f.c.ingest_id)
            .where(f.c.node.in_(list(nodes)))
            .distinct()
        )
        with self.engine.connect() as conn:
            return [(row.node, row.container, row.ingest_id) for row in conn.execute(query)]


def _ingested(tenant: TenantId, graph_hash: str) -> list[Any]:
    """The graph's ingests with status ``ingested``: what ran of it (joined to ``ingests``)."""
    return [
        ingests.c.tenant == tenant,
        ingests.c.graph_hash == graph_hash,
        ingests.c.status == "ingested",
    ]


def _ingest_values(ingest: IngestRecord) -> dict[str, Any]:
    return row_of(ingest, receipt=_stored_receipt)


def _ingest_of(row: Any) -> IngestRecord:
    return record_of(IngestRecord, row, receipt=_receipt)


def _receipt(stored: str | None) -> Mapping[str, Any] | None:
    return json.loads(stored) if stored else None


def _stored_receipt(receipt: Mapping[str, Any] | None) -> str | None:
    return None if receipt is None else json.dumps(dict(receipt))


def insert_facts(
    conn: Connection, dialect: str, ingest: IngestRecord, rows: Iterable[FactRow]
) -> None:
    """An ingest's facts in bulk (`_bulk_insert`), numbered in the given order.

    A `FactRow` holds the facts columns after (ingest_id, tenant, seq) in the table's order,
    so each row is unpacked once, not read field by field (issue 19: 10^5 facts per large
    ingest, where building the rows in Python cost as much as SQLite inserting them)."""
    ingest_id, tenant = ingest.ingest_id, ingest.tenant
    if dialect == "postgresql":  # COPY takes the datetimes as they are
        _bulk_insert(
            conn, dialect, facts,
            ((ingest_id, tenant, i, *row) for i, row in enumerate(rows)),
        )  # fmt: skip
        return
    _bulk_insert(
        conn, dialect, facts,
        (
            (ingest_id, tenant, i, symbol_id, purl, container, hits, sqlite_time(first),
             sqlite_time(last), node)
            for i, (symbol_id, purl, container, hits, first, last, node) in enumerate(rows)
        ),
    )  # fmt: skip


def insert_edges(
    conn: Connection, dialect: str, ingest: IngestRecord, rows: Iterable[EdgeRow]
) -> None:
    """An ingest's observed caller → callee pairs in bulk (`_bulk_insert`)."""
    ingest_id, tenant = ingest.ingest_id, ingest.tenant
    _bulk_insert(
        conn, dialect, observed_edges,
        ((ingest_id, tenant, i, *row) for i, row in enumerate(rows)),
    )  # fmt: skip


def _bulk_insert(
    conn: Connection, dialect: str, table: sa.Table, values: Iterator[tuple[Any, ...]]
) -> None:
    """The table's rows ``values`` (each in its column order), made as they are written and
    `_FACT_BATCH` at a time at most (bounded memory whatever the trace): COPY on PostgreSQL, a
    driver-level executemany with one prepared statement on SQLite (SQLAlchemy's per-row
    parameter processing cost more than the inserts themselves for 10^5 facts). All in the
    caller's transaction."""
    first = next(values, None)
    if first is None:
        return
    values = itertools.chain([first], values)
    columns = ", ".join(c.name for c in table.columns)
    if dialect == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        # Table and column names come from our own schema; the rows travel as COPY data, in
        # the binary format (each value dumped by its column's type: a fifth of the client
        # CPU of the text format for 10^5 facts, and a quarter less time).
        statement = f"COPY {table.name} ({columns}) FROM STDIN (FORMAT BINARY)"
        with cursor.copy(statement) as copy:
            copy.set_types([_copy_type(column) for column in table.columns])
            for row in values:
                copy.write_row(row)
        return
    marks = ", ".join(["?"] * len(table.columns))
    # Table and column names come from our own schema; every value is a bound parameter.
    sql = f"INSERT INTO {table.name} ({columns}) VALUES ({marks})"  # noqa: S608
    while batch := list(itertools.islice(values, _FACT_BATCH)):
        conn.exec_driver_sql(sql, batch)


def _copy_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL type a binary COPY sends ``column``'s values as: its own."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.BigInteger):
        return "int8"
    if isinstance(kind, sa.Integer):
        return "int4"
    if isinstance(kind, sa.DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, sa.Text):
        return "text"
    if isinstance(kind, sa.String):
        return "varchar"
    raise TypeError(f"no COPY type for {column.table}.{column.name} ({kind})")  # pragma: no cover


def update_ingest(
    conn: Connection, ingest: IngestRecord, *, previous_event_id: str | None = None
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
