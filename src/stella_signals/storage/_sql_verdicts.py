"""Reachability verdicts on SQL (`VerdictStore`).

An evaluation is recorded in one transaction under the tenant's lock: the evaluation row, the
current verdicts, a history row per first or changed state, the pair's unknowns, its
registration and the ``reach.verdict.changed`` events. An ingest committed for a graph marks
the graph's registered pairs due (`mark_graph_changed`) in the ingest's own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import (
    CatalogRecord,
    EvaluationRecord,
    EventDraft,
    Registration,
    StoredUnknown,
    StoredVerdict,
    VerdictChange,
    VerdictRow,
    VexRecord,
    verdict_id,
)
from stella_signals.storage._schema import (
    reach_catalogs,
    reach_evaluations,
    reach_registrations,
    reach_unknowns,
    reach_verdict_history,
    reach_verdicts,
    reach_vex,
)
from stella_signals.storage._sql_base import SqlDatabase, utc
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["SqlVerdictStore", "mark_graph_changed"]


def mark_graph_changed(conn: Connection, tenant: TenantId, graph_hash: str | None) -> None:
    """In an ingest's transaction: the graph's registered pairs are due again."""
    if graph_hash is None:
        return
    conn.execute(_GRAPH_CHANGED, {"of_tenant": tenant, "of_graph": graph_hash})


#: `mark_graph_changed`'s update, built once: every ingest's commit runs it (issue 19).
_GRAPH_CHANGED = (
    reach_registrations.update()
    .where(
        # Not named after columns: an update's parameters named so would be SET values.
        reach_registrations.c.tenant == sa.bindparam("of_tenant"),
        reach_registrations.c.graph_hash == sa.bindparam("of_graph"),
    )
    .values(change_seq=reach_registrations.c.change_seq + 1)
)


def _time(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _registration(row: Any) -> Registration:
    return Registration(
        tenant=TenantId(row.tenant),
        graph_hash=row.graph_hash,
        catalog_digest=row.catalog_digest,
        since=_time(row.since),
        change_seq=int(row.change_seq),
        evaluated_seq=int(row.evaluated_seq),
    )


def _change(row: Any) -> VerdictChange:
    return VerdictChange(
        tenant=TenantId(row.tenant),
        graph_hash=row.graph_hash,
        catalog_digest=row.catalog_digest,
        vuln_id=row.vuln_id,
        package=row.package,
        symbol=row.symbol,
        from_state=row.from_state,
        to_state=row.to_state,
        at=utc(row.at),
        evaluation_id=row.evaluation_id,
        position=int(row.position),
        event_id=row.event_id,
    )


def _after(columns: tuple[Any, Any], after: tuple[str, int] | None) -> list[Any]:
    if after is None:
        return []
    first, second = columns
    return [sa.or_(first > after[0], sa.and_(first == after[0], second > after[1]))]


class SqlVerdictStore(SqlDatabase):
    """`VerdictStore` over a SQL database."""

    # -- catalogs ----------------------------------------------------------------------
    def add_catalog(self, record: CatalogRecord) -> bool:
        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, record.tenant)
            if self._find(conn, reach_catalogs, record.tenant, digest=record.digest):
                return False
            conn.execute(
                reach_catalogs.insert().values(
                    tenant=record.tenant,
                    digest=record.digest,
                    cas_uri=record.cas_uri,
                    entries=record.entries,
                    created_at=record.created_at,
                )
            )
            return True

        return self._in_tx(work)

    def get_catalog(self, tenant: TenantId, digest: str) -> CatalogRecord | None:
        row = self._get(reach_catalogs, tenant, digest=digest)
        if row is None:
            return None
        return CatalogRecord(
            tenant=TenantId(row.tenant),
            digest=row.digest,
            cas_uri=row.cas_uri,
            entries=int(row.entries),
            created_at=utc(row.created_at),
        )

    # -- registrations -------------------------------------------------------------------
    def register_pair(
        self,
        tenant: TenantId,
        graph_hash: str,
        catalog_digest: str,
        *,
        since: datetime | None,
        at: datetime,
    ) -> Registration:
        key = {"graph_hash": graph_hash, "catalog_digest": catalog_digest}

        def work(conn: Connection) -> Registration:
            self._lock_tenant(conn, tenant)
            if self._find(conn, reach_registrations, tenant, **key) is None:
                conn.execute(
                    reach_registrations.insert().values(
                        tenant=tenant,
                        **key,
                        since=since,
                        registered_at=at,
                        change_seq=0,
                        evaluated_seq=0,
                    )
                )
            else:
                conn.execute(
                    reach_registrations.update()
                    .where(
                        reach_registrations.c.tenant == tenant,
                        *(reach_registrations.c[k] == v for k, v in key.items()),
                    )
                    .values(since=since)
                )
            return _registration(self._find(conn, reach_registrations, tenant, **key))

        return self._in_tx(work)

    def claim_reevaluations(
        self, now: datetime, *, worker: str, lease_seconds: float, limit: int
    ) -> list[Registration]:
        table = reach_registrations

        def work(conn: Connection) -> list[Registration]:
            rows = conn.execute(
                sa.select(table)
                .where(
                    table.c.change_seq > table.c.evaluated_seq,
                    sa.or_(table.c.lease_until.is_(None), table.c.lease_until <= now),
                )
                .order_by(table.c.tenant, table.c.graph_hash, table.c.catalog_digest)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            until = now + timedelta(seconds=lease_seconds)
            for row in rows:
                conn.execute(
                    table.update()
                    .where(
                        table.c.tenant == row.tenant,
                        table.c.graph_hash == row.graph_hash,
                        table.c.catalog_digest == row.catalog_digest,
                    )
                    .values(lease_until=until, leased_by=worker)
                )
            return [_registration(row) for row in rows]

        return self._in_tx(work)

    # -- evaluations ---------------------------------------------------------------------
    def record_evaluation(
        self,
        evaluation: EvaluationRecord,
        verdicts: Sequence[VerdictRow],
        unknowns: Sequence[Mapping[str, Any]],
        *,
        seen_seq: int,
        event: Callable[[VerdictChange], EventDraft],
    ) -> tuple[list[VerdictChange], list[TimelineEvent]]:
        tenant = evaluation.tenant
        pair = {"graph_hash": evaluation.graph_hash, "catalog_digest": evaluation.catalog_digest}

        def keep_evaluation(conn: Connection, changed: int) -> None:
            conn.execute(
                reach_evaluations.insert().values(
                    evaluation_id=evaluation.evaluation_id,
                    tenant=tenant,
                    **pair,
                    since=evaluation.since,
                    window_start=evaluation.window_start,
                    window_end=evaluation.window_end,
                    computed_at=evaluation.computed_at,
                    verdicts=evaluation.verdicts,
                    unknowns=evaluation.unknowns,
                    changed=changed,
                    evidence=json.dumps(
                        {
                            "evidence_digests": list(evaluation.evidence_digests),
                            "manifest_digests": list(evaluation.manifest_digests),
                            "ingest_ids": list(evaluation.ingest_ids),
                            "document_sha256": evaluation.document_sha256,
                        }
                    ),
                )
            )

        def work(conn: Connection) -> tuple[list[VerdictChange], list[TimelineEvent]]:
            self._lock_tenant(conn, tenant)
            registered = self._find(conn, reach_registrations, tenant, **pair)
            if registered is not None and seen_seq < registered.evaluated_seq:
                # A newer evaluation (it saw more ingests) is recorded already: this one is
                # kept as what it was, without touching the current verdicts.
                keep_evaluation(conn, 0)
                return [], []
            current = {
                (row.vuln_id, row.package, row.symbol): row.state
                for row in conn.execute(
                    sa.select(
                        reach_verdicts.c.vuln_id,
                        reach_verdicts.c.package,
                        reach_verdicts.c.symbol,
                        reach_verdicts.c.state,
                    ).where(
                        reach_verdicts.c.tenant == tenant,
                        *(reach_verdicts.c[k] == v for k, v in pair.items()),
                    )
                )
            }
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            changes: list[VerdictChange] = []
            for position, verdict in enumerate(verdicts):
                before = current.get(verdict.key)
                values = {
                    "b_vuln_id": verdict.vuln_id,
                    "b_package": verdict.package,
                    "b_symbol": verdict.symbol,
                    "b_state": verdict.state,
                    "b_body": json.dumps(dict(verdict.body), sort_keys=True),
                }
                if before is None:
                    values["b_verdict_id"] = verdict_id(evaluation.evaluation_id, position)
                    inserts.append(values)
                else:
                    updates.append(values)
                if before == verdict.state:
                    continue
                changes.append(VerdictChange.of(evaluation, verdict, before, position))
            t = reach_verdicts
            common = {
                "tenant": tenant,
                **pair,
                "evaluation_id": evaluation.evaluation_id,
            }
            if inserts:
                conn.execute(
                    t.insert().values(
                        **common,
                        vuln_id=sa.bindparam("b_vuln_id"),
                        package=sa.bindparam("b_package"),
                        symbol=sa.bindparam("b_symbol"),
                        state=sa.bindparam("b_state"),
                        body=sa.bindparam("b_body"),
                        verdict_id=sa.bindparam("b_verdict_id"),
                        changed_at=evaluation.computed_at,
                    ),
                    inserts,
                )
            if updates:
                # changed_at moves only with the state: compared with the stored one.
                conn.execute(
                    t.update()
                    .where(
                        t.c.tenant == tenant,
                        *(t.c[k] == v for k, v in pair.items()),
                        t.c.vuln_id == sa.bindparam("b_vuln_id"),
                        t.c.package == sa.bindparam("b_package"),
                        t.c.symbol == sa.bindparam("b_symbol"),
                    )
                    .values(
                        changed_at=sa.case(
                            (t.c.state == sa.bindparam("b_state"), t.c.changed_at),
                            else_=evaluation.computed_at,
                        ),
                        state=sa.bindparam("b_state"),
                        body=sa.bindparam("b_body"),
                        evaluation_id=evaluation.evaluation_id,
                    ),
                    updates,
                )
            stated = [c for c in changes if c.from_state is not None]
            events = self._append_many(conn, tenant, [event(c) for c in stated])
            named = {c.position: e.event_id for c, e in zip(stated, events, strict=True)}
            changes = [replace(c, event_id=named.get(c.position)) for c in changes]
            if changes:
                conn.execute(reach_verdict_history.insert(), [_fields(c) for c in changes])
            keep_evaluation(conn, sum(1 for c in changes if c.from_state is not None))
            conn.execute(
                reach_unknowns.delete().where(
                    reach_unknowns.c.tenant == tenant,
                    *(reach_unknowns.c[k] == v for k, v in pair.items()),
                )
            )
            if unknowns:
                conn.execute(
                    reach_unknowns.insert(),
                    [
                        {
                            "evaluation_id": evaluation.evaluation_id,
                            "position": position,
                            "tenant": tenant,
                            **pair,
                            "kind": str(unknown.get("kind", "")),
                            "body": json.dumps(dict(unknown), sort_keys=True),
                        }
                        for position, unknown in enumerate(unknowns)
                    ],
                )
            conn.execute(
                reach_registrations.update()
                .where(
                    reach_registrations.c.tenant == tenant,
                    *(reach_registrations.c[k] == v for k, v in pair.items()),
                )
                .values(
                    evaluated_seq=sa.func.max(reach_registrations.c.evaluated_seq, seen_seq)
                    if self.dialect == "sqlite"
                    else sa.func.greatest(reach_registrations.c.evaluated_seq, seen_seq),
                    lease_until=None,
                    leased_by=None,
                )
            )
            return changes, events

        return self._in_tx(work)

    def get_evaluation(self, tenant: TenantId, evaluation_id: str) -> EvaluationRecord | None:
        row = self._get(reach_evaluations, tenant, evaluation_id=evaluation_id)
        if row is None:
            return None
        evidence = json.loads(row.evidence)
        return EvaluationRecord(
            evaluation_id=row.evaluation_id,
            tenant=TenantId(row.tenant),
            graph_hash=row.graph_hash,
            catalog_digest=row.catalog_digest,
            since=_time(row.since),
            window_start=_time(row.window_start),
            window_end=_time(row.window_end),
            computed_at=utc(row.computed_at),
            verdicts=int(row.verdicts),
            unknowns=int(row.unknowns),
            changed=int(row.changed),
            evidence_digests=tuple(evidence["evidence_digests"]),
            manifest_digests=tuple(evidence["manifest_digests"]),
            ingest_ids=tuple(evidence["ingest_ids"]),
            document_sha256=evidence.get("document_sha256"),
        )

    # -- reads ---------------------------------------------------------------------------
    def list_verdicts(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        catalog_digest: str | None = None,
        vuln_id: str | None = None,
        state: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[StoredVerdict]:
        t = reach_verdicts
        where = [t.c.tenant == tenant]
        for column, value in (
            (t.c.graph_hash, graph_hash),
            (t.c.catalog_digest, catalog_digest),
            (t.c.vuln_id, vuln_id),
            (t.c.state, state),
        ):
            if value is not None:
                where.append(column == value)
        if after is not None:
            where.append(t.c.verdict_id > after)
        query = sa.select(t).where(*where).order_by(t.c.verdict_id).limit(limit)
        with self.engine.connect() as conn:
            return [
                StoredVerdict(
                    verdict_id=row.verdict_id,
                    tenant=TenantId(row.tenant),
                    graph_hash=row.graph_hash,
                    catalog_digest=row.catalog_digest,
                    vuln_id=row.vuln_id,
                    package=row.package,
                    symbol=row.symbol,
                    state=row.state,
                    evaluation_id=row.evaluation_id,
                    changed_at=utc(row.changed_at),
                    body=json.loads(row.body),
                )
                for row in conn.execute(query)
            ]

    def verdict_history(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        vuln_id: str | None = None,
        symbol: str | None = None,
        after: tuple[str, int] | None = None,
        limit: int,
    ) -> list[VerdictChange]:
        t = reach_verdict_history
        where = [t.c.tenant == tenant, *_after((t.c.evaluation_id, t.c.position), after)]
        for column, value in ((t.c.graph_hash, graph_hash), (t.c.vuln_id, vuln_id),
                              (t.c.symbol, symbol)):  # fmt: skip
            if value is not None:
                where.append(column == value)
        query = sa.select(t).where(*where).order_by(t.c.evaluation_id, t.c.position).limit(limit)
        with self.engine.connect() as conn:
            return [_change(row) for row in conn.execute(query)]

    def list_unknowns(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        after: tuple[str, int] | None = None,
        limit: int,
    ) -> list[StoredUnknown]:
        t = reach_unknowns
        where = [t.c.tenant == tenant, *_after((t.c.evaluation_id, t.c.position), after)]
        if graph_hash is not None:
            where.append(t.c.graph_hash == graph_hash)
        query = sa.select(t).where(*where).order_by(t.c.evaluation_id, t.c.position).limit(limit)
        with self.engine.connect() as conn:
            return [
                StoredUnknown(
                    tenant=TenantId(row.tenant),
                    graph_hash=row.graph_hash,
                    catalog_digest=row.catalog_digest,
                    evaluation_id=row.evaluation_id,
                    position=int(row.position),
                    kind=row.kind,
                    body=json.loads(row.body),
                )
                for row in conn.execute(query)
            ]

    # -- VEX -----------------------------------------------------------------------------
    def add_vex(self, record: VexRecord) -> None:
        def work(conn: Connection) -> None:
            conn.execute(reach_vex.insert().values(**_fields(record)))

        self._in_tx(work)

    def get_vex(self, tenant: TenantId, vex_id: str) -> VexRecord | None:
        row = self._get(reach_vex, tenant, vex_id=vex_id)
        return None if row is None else _vex(row)

    def list_vex(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[VexRecord]:
        t = reach_vex
        where = [t.c.tenant == tenant]
        if graph_hash is not None:
            where.append(t.c.graph_hash == graph_hash)
        if after is not None:
            where.append(t.c.vex_id < after)
        query = sa.select(t).where(*where).order_by(t.c.vex_id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_vex(row) for row in conn.execute(query)]


def _vex(row: Any) -> VexRecord:
    return VexRecord(
        vex_id=row.vex_id,
        tenant=TenantId(row.tenant),
        format=row.format,
        sha256=row.sha256,
        cas_uri=row.cas_uri,
        dsse_uri=row.dsse_uri,
        graph_hash=row.graph_hash,
        catalog_digest=row.catalog_digest,
        evaluation_id=row.evaluation_id,
        created_at=utc(row.created_at),
        product=row.product,
    )


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}
