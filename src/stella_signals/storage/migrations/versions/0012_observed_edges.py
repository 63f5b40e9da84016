"""Observed edges: the caller → callee pairs each ingest saw at run time (records carrying
``caller_symbol_id``), with the graph nodes they map to and whether the graph has the edge,
so that what ran is kept as edges as well as nodes (issue 17). Ingests before this revision
have none: their traces are in the CAS if anyone wants them mapped again.

Revision ID: 0012
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observed_edges",
        sa.Column("ingest_id", sa.String(26), sa.ForeignKey("ingests.ingest_id"), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("caller_symbol_id", sa.Text, nullable=False),
        sa.Column("symbol_id", sa.Text, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("caller_node", sa.Text),
        sa.Column("callee_node", sa.Text),
        sa.Column("in_graph", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("ingest_id", "seq"),
    )
    op.create_index("ix_observed_edges_tenant_ingest", "observed_edges", ["tenant", "ingest_id"])


def downgrade() -> None:
    op.drop_index("ix_observed_edges_tenant_ingest", table_name="observed_edges")
    op.drop_table("observed_edges")
