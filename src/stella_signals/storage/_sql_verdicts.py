"""Reachability verdicts on SQL (`VerdictStore`).

An evaluation is recorded in one transaction under the tenant's lock: the evaluation row, the
current verdicts, a history row per first or changed state, the pair's unknowns, its
registration and the ``reach.verdict.changed`` events. An ingest committed for a graph marks
the graph's registered pairs due (`mark_graph_changed`) in the ingest's own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import (
    CatalogRecord,
    EvaluationRecord,
    Registration,
    StoredUnknown,
    StoredVerdict,
    VerdictChange,
    VexRecord,
    verdict_id,
)
from stella_signals.storage._reads import Page, VerdictReads
from stella_signals.storage._schema import (
    reach_catalogs,
    reach_evaluations,
    reach_registrations,
    reach_unknowns,
    reach_verdict_history,
    reach_verdicts,
    reach_vex,
)
from stella_signals.storage._sql_base import SqlDatabase, record_of, row_of, utc
from stella_signals.storage._writes import (
    EvaluationRecording,
    EvaluationWrite,
    Lease,
    PairSchedule,
    verdict_changes,
    with_events,
)
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


def _json_body(body: Mapping[str, Any]) -> str:
    return json.dumps(dict(body), sort_keys=True)


def _registration(row: Any) -> Registration:
    return record_of(Registration, row)


def _change(row: Any) -> VerdictChange:
    return record_of(VerdictChange, row)


class SqlVerdictStore(VerdictReads, PairSchedule, EvaluationRecording, SqlDatabase):
    """`VerdictStore` over a SQL database."""

    # -- catalogs ----------------------------------------------------------------------
    def add_catalog(self, record: CatalogRecord) -> bool:
        return self._add_once(reach_catalogs, record.tenant, row_of(record), key=("digest",))

    def get_catalog(self, tenant: TenantId, digest: str) -> CatalogRecord | None:
        row = self._get(reach_catalogs, tenant, digest=digest)
        return None if row is None else record_of(CatalogRecord, row)

    # -- registrations -------------------------------------------------------------------
    def _register(self, fresh: Registration, at: datetime) -> Registration:
        tenant = fresh.tenant
        key = {"graph_hash": fresh.graph_hash, "catalog_digest": fresh.catalog_digest}

        def work(conn: Connection) -> Registration:
            self._lock_tenant(conn, tenant)
            if self._find(conn, reach_registrations, tenant, **key) is None:
                conn.execute(
                    reach_registrations.insert().values({**row_of(fresh), "registered_at": at})
                )
            else:
                conn.execute(
                    reach_registrations.update()
                    .where(
                        reach_registrations.c.tenant == tenant,
                        *(reach_registrations.c[k] == v for k, v in key.items()),
                    )
                    .values(since=fresh.since)
                )
            return _registration(self._find(conn, reach_registrations, tenant, **key))

        return self._in_tx(work)

    def _claim_pairs(self, lease: Lease) -> list[Registration]:
        table = reach_registrations

        def work(conn: Connection) -> list[Registration]:
            rows = conn.execute(
                sa.select(table)
                .where(
                    table.c.change_seq > table.c.evaluated_seq,
                    sa.or_(table.c.lease_until.is_(None), table.c.lease_until <= lease.now),
                )
                .order_by(table.c.tenant, table.c.graph_hash, table.c.catalog_digest)
                .limit(lease.limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                conn.execute(
                    table.update()
                    .where(
                        table.c.tenant == row.tenant,
                        table.c.graph_hash == row.graph_hash,
                        table.c.catalog_digest == row.catalog_digest,
                    )
                    .values(lease_until=lease.until, leased_by=lease.worker)
                )
            return [_registration(row) for row in rows]

        return self._in_tx(work)

    # -- evaluations ---------------------------------------------------------------------
    def _record_evaluation(
        self, write: EvaluationWrite
    ) -> tuple[list[VerdictChange], list[TimelineEvent]]:
        evaluation, verdicts, seen_seq = write.evaluation, write.verdicts, write.seen_seq
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
            if write.stale(None if registered is None else registered.evaluated_seq):
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
            for position, verdict in enumerate(verdicts):
                before = current.get(verdict.key)
                values = {
                    "b_vuln_id": verdict.vuln_id,
                    "b_package": verdict.package,
                    "b_symbol": verdict.symbol,
                    "b_state": verdict.state,
                    "b_body": _json_body(verdict.body),
                }
                if before is None:
                    values["b_verdict_id"] = verdict_id(evaluation.evaluation_id, position)
                    inserts.append(values)
                else:
                    updates.append(values)
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
            changes, events = with_events(
                verdict_changes(evaluation, verdicts, current),
                write.event,
                lambda drafts: self._append_many(conn, tenant, drafts),
            )
            if changes:
                conn.execute(reach_verdict_history.insert(), [row_of(c) for c in changes])
            keep_evaluation(conn, sum(1 for c in changes if c.from_state is not None))
            conn.execute(
                reach_unknowns.delete().where(
                    reach_unknowns.c.tenant == tenant,
                    *(reach_unknowns.c[k] == v for k, v in pair.items()),
                )
            )
            if write.unknowns:
                conn.execute(
                    reach_unknowns.insert(),
                    [row_of(u, body=_json_body) for u in write.unknowns],
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
    def _verdict_page(self, page: Page) -> list[StoredVerdict]:
        return [_verdict(row) for row in self._select_page(reach_verdicts, page)]

    def _history_page(self, page: Page) -> list[VerdictChange]:
        return [_change(row) for row in self._select_page(reach_verdict_history, page)]

    def _unknown_page(self, page: Page) -> list[StoredUnknown]:
        return [_unknown(row) for row in self._select_page(reach_unknowns, page)]

    def _vex_page(self, page: Page) -> list[VexRecord]:
        return [_vex(row) for row in self._select_page(reach_vex, page)]

    # -- VEX -----------------------------------------------------------------------------
    def add_vex(self, record: VexRecord) -> None:
        def work(conn: Connection) -> None:
            conn.execute(reach_vex.insert().values(row_of(record)))

        self._in_tx(work)

    def get_vex(self, tenant: TenantId, vex_id: str) -> VexRecord | None:
        row = self._get(reach_vex, tenant, vex_id=vex_id)
        return None if row is None else _vex(row)


def _verdict(row: Any) -> StoredVerdict:
    return record_of(StoredVerdict, row, body=json.loads)


def _unknown(row: Any) -> StoredUnknown:
    return record_of(StoredUnknown, row, body=json.loads)


def _vex(row: Any) -> VexRecord:
    return record_of(VexRecord, row)
