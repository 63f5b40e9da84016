"""Signed time anchors per tenant (SPEC §11).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "time_anchors",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("counter", sa.BigInteger, primary_key=True),
        sa.Column("anchor_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("time_anchors")
