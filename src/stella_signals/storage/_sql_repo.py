"""`Repository` on SQLAlchemy Core: SQLite (WAL) on the embedded default, PostgreSQL at scale.

One store per aggregate (``_sql_tokens.py``, ``_sql_graphs.py``, ``_sql_ingests.py``,
``_sql_orphans.py``, ``_sql_timeline.py``, ``_sql_trust.py``, ``_sql_service_keys.py``,
``_sql_sync.py``, ``_sql_verdicts.py``), each a `SqlDatabase` (``_sql_base.py``: the engine,
the transactions, the tenant lock and the timeline append every write joins);
`SqlRepository` is all of them over one engine. What a database failure means is decided
in ``_sql_errors.py`` alone.
"""

from __future__ import annotations

from stella_signals.storage._sql_base import engine_url, sqlite_url
from stella_signals.storage._sql_graphs import SqlGraphStore
from stella_signals.storage._sql_ingests import SqlIngestStore
from stella_signals.storage._sql_orphans import SqlOrphanQueue
from stella_signals.storage._sql_service_keys import SqlServiceKeyStore
from stella_signals.storage._sql_sync import SqlSyncStore
from stella_signals.storage._sql_timeline import SqlTimelineStore
from stella_signals.storage._sql_tokens import SqlTokenStore
from stella_signals.storage._sql_trust import SqlTrustStore
from stella_signals.storage._sql_verdicts import SqlVerdictStore

__all__ = ["SqlRepository", "engine_url", "sqlite_url"]


class SqlRepository(
    SqlTokenStore,
    SqlGraphStore,
    SqlIngestStore,
    SqlOrphanQueue,
    SqlTimelineStore,
    SqlTrustStore,
    SqlServiceKeyStore,
    SqlSyncStore,
    SqlVerdictStore,
):
    """The metadata store: every SQL store over one engine. Construct with a SQLAlchemy URL;
    call `migrate` once."""
