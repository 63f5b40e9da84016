"""Trusted keys per tenant and purpose; per-tenant DSSE policy.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trusted_keys",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("purpose", sa.String(16), primary_key=True),
        sa.Column("keyid", sa.String(128), primary_key=True),
        sa.Column("public_pem", sa.Text, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "tenant_policies",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("require_dsse", sa.Boolean, nullable=False),
        sa.Column("dsse_threshold", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_policies")
    op.drop_table("trusted_keys")
