"""The per-ingest lookups stay index lookups as the ingests table grows (issue 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stella_signals.storage import SqlRepository, sqlite_url
from tests.storage.repository_contract import ACME, GRAPH, draft, ingest


def test_the_duplicate_lookup_uses_the_accepted_ingests_index(tmp_path: Path) -> None:
    """With the statuses as bound values SQLite could not see that the query implies the
    partial unique index, and scanned every ingest of the tenant on every request."""
    repo = SqlRepository(sqlite_url(tmp_path / "signals.db"))
    repo.migrate()
    try:
        repo.commit_ingest(ingest(1), [], draft(1))
        statements: list[tuple[str, Any]] = []

        @sa.event.listens_for(repo.engine, "before_cursor_execute")
        def _seen(_c: Any, _cur: Any, statement: str, params: Any, *_rest: Any) -> None:
            statements.append((statement, params))

        found = repo.find_duplicate(ACME, f"{1:064x}", GRAPH)
        assert found is not None and found.ingest_id == ingest(1).ingest_id
        assert repo.find_duplicate(ACME, f"{2:064x}", GRAPH) is None
        statement, params = next(s for s in statements if "FROM ingests" in s[0])
        with repo.engine.connect() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
        assert "ux_ingests_accepted" in " ".join(str(row) for row in plan), plan
    finally:
        repo.close()
