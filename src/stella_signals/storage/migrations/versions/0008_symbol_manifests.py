"""Symbol manifests on record: whether a manifest is new (and earns its
``symbols.manifest.ingested`` event) is decided here, in the event's transaction, not by
the CAS — so a crash between storing the blob and the event cannot lose the event, and two
servers storing the same manifest at once cannot both announce it.

Manifests announced before this revision are taken from their events (not from events
imported from an offline site: those manifests were stored there, not here).

Revision ID: 0008
Revises: 0007
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "symbol_manifests",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("cas_uri", sa.Text, nullable=False),
        sa.Column("entries", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    events = sa.table(
        "timeline_events",
        sa.column("tenant", sa.String),
        sa.column("seq", sa.BigInteger),
        sa.column("event_type", sa.String),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("body", sa.Text),
    )
    rows = op.get_bind().execute(
        sa.select(events.c.tenant, events.c.occurred_at, events.c.body)
        .where(events.c.event_type == "symbols.manifest.ingested")
        .order_by(events.c.tenant, events.c.seq)
    )
    seen: set[tuple[str, str]] = set()
    backfill = []
    for tenant, occurred_at, body in rows:
        attributes = json.loads(body).get("attributes", {})
        key = (tenant, attributes.get("sha256"))
        if "origin" in attributes or not isinstance(key[1], str) or key in seen:
            continue
        seen.add(key)
        backfill.append(
            {
                "tenant": tenant,
                "sha256": key[1],
                "cas_uri": attributes.get("cas_uri", ""),
                "entries": int(attributes.get("entries", 0)),
                "created_at": occurred_at,
            }
        )
    if backfill:
        op.bulk_insert(table, backfill)


def downgrade() -> None:
    op.drop_table("symbol_manifests")
