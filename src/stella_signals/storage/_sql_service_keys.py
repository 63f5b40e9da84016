"""The service's receipt keys on SQL (`ServiceKeyStore`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import ServiceKeyRecord
from stella_signals.storage._schema import service_keys
from stella_signals.storage._sql_base import SqlDatabase, record_of

__all__ = ["SqlServiceKeyStore"]

#: PostgreSQL advisory lock key of the service keys (one per deployment).
_SERVICE_KEY_LOCK = 0x5354454C4B  # "STELK"


class SqlServiceKeyStore(SqlDatabase):
    """`ServiceKeyStore` over a SQL database."""

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

        return self._in_tx(work)

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
                record_of(ServiceKeyRecord, row, public_pem=str.encode)
                for row in conn.execute(query)
            ]
