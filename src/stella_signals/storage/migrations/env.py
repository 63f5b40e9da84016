"""Alembic environment: the connection is always handed in by `stella_signals.storage`."""

from __future__ import annotations

from alembic import context

from stella_signals.storage._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError("run migrations through `signals migrate`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
