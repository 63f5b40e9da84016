"""`TokenStore` in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from stella_signals.errors import Conflict
from stella_signals.ports import TokenRecord
from stella_signals.storage._memory_base import MemoryDatabase
from stella_signals.storage._writes import TokenIssue
from stella_signals.tenancy import TenantId

__all__ = ["MemoryTokenStore"]


class MemoryTokenStore(TokenIssue, MemoryDatabase):
    """`TokenStore` in memory. Tokens are found by their hash through a dict, as the SQL
    store finds them through a unique index: a hash is never compared byte by byte."""

    def __init__(self) -> None:
        super().__init__()
        self._tokens: dict[str, TokenRecord] = {}
        self._token_ids: dict[str, str] = {}  # SHA-256 of the token -> its id

    def _insert_token(self, token_hash: str, record: TokenRecord) -> None:
        with self._lock:
            if token_hash in self._token_ids:
                raise Conflict("a token with this hash already exists")
            self._tokens[record.token_id] = record
            self._token_ids[token_hash] = record.token_id

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
