"""`TokenStore` in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from stella_signals.clock import FixedClock
from stella_signals.errors import Conflict
from stella_signals.ids import new_ulid
from stella_signals.ports import TokenRecord
from stella_signals.storage._memory_base import MemoryDatabase
from stella_signals.tenancy import TenantId

__all__ = ["MemoryTokenStore"]


class MemoryTokenStore(MemoryDatabase):
    """`TokenStore` in memory. Tokens are found by their hash through a dict, as the SQL
    store finds them through a unique index: a hash is never compared byte by byte."""

    def __init__(self) -> None:
        super().__init__()
        self._tokens: dict[str, TokenRecord] = {}
        self._token_ids: dict[str, str] = {}  # SHA-256 of the token -> its id

    def add_token(
        self,
        *,
        token_hash: str,
        tenants: frozenset[str],
        scopes: frozenset[str],
        at: datetime,
        expires_at: datetime | None = None,
    ) -> str:
        with self._lock:
            if token_hash in self._token_ids:
                raise Conflict("a token with this hash already exists")
            token_id = new_ulid(FixedClock(at))
            self._tokens[token_id] = TokenRecord(
                token_id=token_id,
                tenants=frozenset(tenants),
                scopes=frozenset(scopes),
                created_at=at,
                expires_at=None if expires_at is None else expires_at.astimezone(UTC),
            )
            self._token_ids[token_hash] = token_id
            return token_id

    def find_token(self, token_hash: str) -> TokenRecord | None:
        with self._lock:
            token_id = self._token_ids.get(token_hash)
            return None if token_id is None else self._tokens[token_id]

    def list_tokens(
        self, *, tenant: TenantId | None, after: str | None = None, limit: int | None = None
    ) -> list[TokenRecord]:
        with self._lock:
            records = sorted(
                (r for r in self._tokens.values() if r.managed_by(tenant)),
                key=lambda r: r.token_id,
            )
        if after is not None:
            records = [r for r in records if r.token_id > after]
        return records if limit is None else records[:limit]

    def get_token(self, token_id: str, *, tenant: TenantId | None) -> TokenRecord | None:
        with self._lock:
            found = self._tokens.get(token_id)
        return found if found is not None and found.managed_by(tenant) else None

    def revoke_token(
        self, token_id: str, *, tenant: TenantId | None, at: datetime
    ) -> TokenRecord | None:
        with self._lock:
            record = self.get_token(token_id, tenant=tenant)
            if record is not None and record.revoked_at is None:
                record = self._tokens[token_id] = replace(record, revoked_at=at)
            return record
