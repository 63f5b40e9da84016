"""Bearer tokens on SQL (`TokenStore`): only their hashes are kept."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from stella_signals.ports import TokenRecord
from stella_signals.storage._schema import tokens
from stella_signals.storage._sql_base import SqlDatabase, record_of
from stella_signals.storage._writes import TokenIssue
from stella_signals.tenancy import TenantId

__all__ = ["SqlTokenStore"]


class SqlTokenStore(TokenIssue, SqlDatabase):
    """`TokenStore` over a SQL database."""

    def _insert_token(self, token_hash: str, record: TokenRecord) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(
                tokens.insert().values(
                    token_id=record.token_id,
                    token_hash=token_hash,
                    tenants=_tenants_json(record.tenants),
                    scopes=json.dumps(sorted(record.scopes)),
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                )
            )

    def find_token(self, token_hash: str) -> TokenRecord | None:
        # No cache on purpose: every request asks the store, so a revocation committed by
        # any process of the deployment refuses the token's next request on every server.
        with self.engine.connect() as conn:
            row = conn.execute(_FIND_TOKEN, {"token_hash": token_hash}).first()
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


def _tenants_json(tenants: frozenset[str]) -> str:
    """The one spelling of a token's tenants (sorted JSON array): `_tokens_of` matches it."""
    return json.dumps(sorted(tenants))


def _tokens_of(tenant: TenantId | None) -> sa.Select[Any]:
    """The tokens `TokenRecord.managed_by` ``tenant``, as a query (the rule is there)."""
    query = sa.select(tokens)
    if tenant is not None:
        query = query.where(tokens.c.tenants == _tenants_json(frozenset({tenant})))
    return query


def _token_of(row: Any) -> TokenRecord:
    return record_of(TokenRecord, row, tenants=_json_set, scopes=_json_set)


def _json_set(stored: str) -> frozenset[str]:
    return frozenset(json.loads(stored))


#: The token with a given hash, built once: every request asks it (issue 19).
_FIND_TOKEN = sa.select(tokens).where(tokens.c.token_hash == sa.bindparam("token_hash"))
