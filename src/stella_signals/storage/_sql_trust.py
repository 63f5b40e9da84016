"""Trusted keys, tenant policies and time anchors on SQL (`TrustStore`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import KeyPurpose, TenantPolicy, TrustedKey
from stella_signals.storage._schema import tenant_policies, time_anchors, trusted_keys
from stella_signals.storage._sql_base import SqlDatabase, record_of
from stella_signals.storage._writes import AnchorAppend, AnchorEntry
from stella_signals.tenancy import TenantId

__all__ = ["SqlTrustStore"]


class SqlTrustStore(AnchorAppend, SqlDatabase):
    """`TrustStore` over a SQL database."""

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

        return self._in_tx(work)

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

        return self._in_tx(work)

    def get_policy(self, tenant: TenantId) -> TenantPolicy:
        with self.engine.connect() as conn:
            return self._policy(conn, tenant)

    @staticmethod
    def _policy(conn: Connection, tenant: TenantId) -> TenantPolicy:
        row = conn.execute(_POLICY, {"tenant": tenant}).first()
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

        return self._in_tx(work)

    def _append_anchor(self, entry: AnchorEntry) -> bool:
        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, entry.tenant)
            highest = conn.execute(
                sa.select(sa.func.max(time_anchors.c.counter)).where(
                    time_anchors.c.tenant == entry.tenant
                )
            ).scalar_one()
            if not entry.follows(highest):
                return False
            conn.execute(
                time_anchors.insert().values(
                    tenant=entry.tenant,
                    counter=entry.counter,
                    anchor_time=entry.anchor_time,
                    envelope=entry.envelope,
                    imported_at=entry.at,
                )
            )
            return True

        return self._in_tx(work)

    def latest_time_anchor(self, tenant: TenantId) -> tuple[int, bytes] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(time_anchors.c.counter, time_anchors.c.envelope)
                .where(time_anchors.c.tenant == tenant)
                .order_by(time_anchors.c.counter.desc())
                .limit(1)
            ).first()
        return (int(row.counter), bytes(row.envelope)) if row is not None else None


def _key_of(row: Any) -> TrustedKey:
    return record_of(TrustedKey, row, purpose=KeyPurpose, public_pem=str.encode)


#: A tenant's policy, built once: every ingest reads it (issue 19).
_POLICY = sa.select(tenant_policies).where(tenant_policies.c.tenant == sa.bindparam("tenant"))
