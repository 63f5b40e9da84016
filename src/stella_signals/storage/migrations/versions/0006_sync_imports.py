"""What offline sites pushed on reconnect: their events and evidence (SPEC §10 sync).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_events",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("origin_event_id", sa.String(26), primary_key=True),
        sa.Column("event_id", sa.String(26), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "imported_evidence",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("ingest_id", sa.String(26), primary_key=True),
        sa.Column("bundle_sha256", sa.String(64), nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.Column("receipt_dsse", sa.LargeBinary, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("imported_evidence")
    op.drop_table("imported_events")
