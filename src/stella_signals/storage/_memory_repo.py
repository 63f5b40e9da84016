"""In-memory stores: a real `Repository` (one per aggregate, as in ``_sql_*.py``) for unit
tests of the services and for one-shot tools: every in-memory store (``_memory_*.py``)
over one lock.

What each store guarantees is in ``_memory_base.py``.
"""

from __future__ import annotations

from stella_signals.storage._memory_base import MemoryDatabase
from stella_signals.storage._memory_ingests import MemoryGraphStore, MemoryIngestStore
from stella_signals.storage._memory_sync import MemorySyncStore
from stella_signals.storage._memory_timeline import MemoryTimelineStore
from stella_signals.storage._memory_tokens import MemoryTokenStore
from stella_signals.storage._memory_trust import MemoryServiceKeyStore, MemoryTrustStore
from stella_signals.storage._memory_verdicts import MemoryVerdictStore

__all__ = [
    "MemoryDatabase",
    "MemoryGraphStore",
    "MemoryIngestStore",
    "MemoryRepository",
    "MemoryServiceKeyStore",
    "MemorySyncStore",
    "MemoryTimelineStore",
    "MemoryTokenStore",
    "MemoryTrustStore",
    "MemoryVerdictStore",
]


class MemoryRepository(
    MemoryTokenStore,
    MemoryIngestStore,
    MemoryTimelineStore,
    MemoryTrustStore,
    MemoryServiceKeyStore,
    MemorySyncStore,
    MemoryVerdictStore,
):
    """Every in-memory store over one lock and one set of timelines: a `Repository`."""
