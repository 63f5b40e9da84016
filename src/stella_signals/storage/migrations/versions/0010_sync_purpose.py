"""Keys trusted for sync: the trust purpose of offline sites' service keys is ``sync`` (it
vouches for the site's signed event batches as well as its receipts), no longer ``receipt``.

Revision ID: 0010
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE trusted_keys SET purpose = 'sync' WHERE purpose = 'receipt'"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE trusted_keys SET purpose = 'receipt' WHERE purpose = 'sync'"))
