"""Orphan queue: traces waiting for their graph (SPEC §12).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orphan_queue",
        sa.Column("ingest_id", sa.String(26), sa.ForeignKey("ingests.ingest_id"), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("graph_hash", sa.String(71), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("leased_by", sa.String(64)),
    )
    op.create_index("ix_orphans_due", "orphan_queue", ["next_attempt_at"])
    op.create_index("ix_orphans_graph", "orphan_queue", ["tenant", "graph_hash"])


def downgrade() -> None:
    op.drop_table("orphan_queue")
