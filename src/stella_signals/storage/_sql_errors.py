"""The one place that says what a database failure means (after httpx's ``_exceptions.py``).

SQLAlchemy and its drivers raise their own exceptions; every query of the metadata store
goes through `install`'s handler, which turns them into the `errors.py` hierarchy:

- disk full (SQLite's SQLITE_FULL, PostgreSQL's SQLSTATE 53100) → `InsufficientStorage`;
- a database that cannot be reached or is locked past the busy timeout → `Unavailable`;
- a second accepted ingest of the same bytes for the same graph (the unique index
  ``ux_ingests_accepted``) → `Conflict`.

A unique key of the timeline taken by a concurrent writer (`lost_chain_race`) is left as it
is: the adapter retries the transaction. Anything else is a bug and propagates unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stella_signals.errors import Conflict, InsufficientStorage, StellaError, Unavailable

__all__ = ["database_error", "install", "lost_chain_race", "unavailable"]

#: How each backend names the unique index of accepted ingests in its error: PostgreSQL by
#: the index's name, SQLite by its first column.
_ACCEPTED_INGEST_KEYS = ("ux_ingests_accepted", "ingests.tenant")


def _disk_full(error: BaseException) -> bool:
    if getattr(error, "sqlstate", None) == "53100":
        return True
    return "database or disk is full" in str(error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def unavailable(error: BaseException) -> Unavailable:
    """The store cannot be used right now (HTTP 503 + Retry-After)."""
    return Unavailable(f"metadata store unavailable: {type(error).__name__}: {_first_line(error)}")


def database_error(
    error: BaseException,
    original: BaseException | None = None,
    *,
    is_disconnect: bool = False,
) -> StellaError | None:
    """The `StellaError` that ``error`` (SQLAlchemy's exception, wrapping the driver's
    ``original``) means, or None when it is not ours to translate."""
    original = original if original is not None else getattr(error, "orig", None) or error
    if _disk_full(original):
        return InsufficientStorage("metadata store: disk full")
    if is_disconnect or isinstance(error, sa.exc.OperationalError):
        return unavailable(original)
    if isinstance(error, sa.exc.IntegrityError) and any(
        key in str(original) for key in _ACCEPTED_INGEST_KEYS
    ):
        return Conflict("an ingest of these bytes for this graph already exists")
    return None


def lost_chain_race(error: BaseException) -> bool:
    """A concurrent writer took the timeline key this transaction wanted: retry it."""
    return isinstance(error, sa.exc.IntegrityError) and "timeline_events" in str(error.orig)


def install(engine: Engine) -> None:
    """Translate every failure of ``engine``'s queries, wherever they were issued; the pool
    drops broken connections itself (``is_disconnect``)."""

    @sa.event.listens_for(engine, "handle_error")
    def _handle(context: sa.engine.ExceptionContext) -> None:
        translated = database_error(
            context.sqlalchemy_exception or context.original_exception,
            context.original_exception,
            is_disconnect=context.is_disconnect,
        )
        if translated is not None:
            raise translated from (context.sqlalchemy_exception or context.original_exception)
