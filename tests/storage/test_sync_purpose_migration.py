"""Revision 0010: site keys trusted with the former purpose ``receipt`` are trusted for
``sync`` afterwards (the purpose that now vouches for event batches and receipts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from stella_signals.attest import generate_private_key_pem, load_signer
from stella_signals.ports import KeyPurpose
from stella_signals.storage import SqlRepository, sqlite_url
from stella_signals.tenancy import TenantId

ACME = TenantId("acme")


def test_receipt_keys_become_sync_keys(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    old = SqlRepository(url)
    old.migrate("0008")
    key = load_signer(generate_private_key_pem()).public_key
    with old.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO trusted_keys (tenant, purpose, keyid, public_pem, added_at) "
                "VALUES ('acme', 'receipt', :keyid, :pem, :at)"
            ),
            {"keyid": key.keyid, "pem": key.pem.decode(), "at": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    old.close()
    repo = SqlRepository(url)
    try:
        repo.migrate()
        assert [k.keyid for k in repo.list_trusted_keys(ACME, KeyPurpose.SYNC)] == [key.keyid]
        assert repo.list_trusted_keys(ACME, KeyPurpose.ATTEST) == []
    finally:
        repo.close()
