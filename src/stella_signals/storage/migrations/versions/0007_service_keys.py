"""The service's receipt keys: current and retired, shared by every server of a deployment
(SPEC §13). The private key is kept here only when no key file is configured.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_keys",
        sa.Column("keyid", sa.String(128), primary_key=True),
        sa.Column("public_pem", sa.Text, nullable=False),
        sa.Column("private_pem", sa.LargeBinary),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("service_keys")
