"""A graph's DSSE attestation (stored at cas://reachability/attestations/<sha256>).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("graphs") as batch:
        batch.add_column(sa.Column("dsse_digest", sa.String(71)))


def downgrade() -> None:
    with op.batch_alter_table("graphs") as batch:
        batch.drop_column("dsse_digest")
