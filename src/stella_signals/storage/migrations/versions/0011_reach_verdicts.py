"""Reachability verdicts (SPEC §15): catalogs, evaluations, the current verdict of each
target with its history, the unknowns of each (graph, catalog), the (graph, catalog) pairs
re-evaluated when their graph's evidence changes, and signed VEX documents.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reach_catalogs",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("digest", sa.String(71), primary_key=True),
        sa.Column("cas_uri", sa.Text, nullable=False),
        sa.Column("entries", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reach_evaluations",
        sa.Column("evaluation_id", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("graph_hash", sa.String(71), nullable=False),
        sa.Column("catalog_digest", sa.String(71), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True)),
        sa.Column("window_start", sa.DateTime(timezone=True)),
        sa.Column("window_end", sa.DateTime(timezone=True)),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verdicts", sa.BigInteger, nullable=False),
        sa.Column("unknowns", sa.BigInteger, nullable=False),
        sa.Column("changed", sa.BigInteger, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),  # JSON: evidence/manifest digests, ingests
    )
    op.create_index(
        "ix_reach_evaluations_pair", "reach_evaluations", ["tenant", "graph_hash", "catalog_digest"]
    )
    op.create_table(
        "reach_verdicts",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("graph_hash", sa.String(71), primary_key=True),
        sa.Column("catalog_digest", sa.String(71), primary_key=True),
        sa.Column("vuln_id", sa.Text, primary_key=True),
        sa.Column("package", sa.Text, primary_key=True),
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("verdict_id", sa.String(40), nullable=False, unique=True),
        sa.Column("state", sa.String(2), nullable=False),
        sa.Column("evaluation_id", sa.String(26), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text, nullable=False),  # the verdict's JSON (SPEC §15)
    )
    op.create_index("ix_reach_verdicts_list", "reach_verdicts", ["tenant", "verdict_id"])
    op.create_table(
        "reach_verdict_history",
        sa.Column("evaluation_id", sa.String(26), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("graph_hash", sa.String(71), nullable=False),
        sa.Column("catalog_digest", sa.String(71), nullable=False),
        sa.Column("vuln_id", sa.Text, nullable=False),
        sa.Column("package", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("from_state", sa.String(2)),
        sa.Column("to_state", sa.String(2), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(26)),
    )
    op.create_index(
        "ix_reach_history_target", "reach_verdict_history", ["tenant", "graph_hash", "vuln_id"]
    )
    op.create_table(
        "reach_unknowns",
        sa.Column("evaluation_id", sa.String(26), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("graph_hash", sa.String(71), nullable=False),
        sa.Column("catalog_digest", sa.String(71), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_reach_unknowns_pair", "reach_unknowns", ["tenant", "graph_hash", "catalog_digest"]
    )
    op.create_table(
        "reach_registrations",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("graph_hash", sa.String(71), primary_key=True),
        sa.Column("catalog_digest", sa.String(71), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True)),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
        sa.Column("evaluated_seq", sa.BigInteger, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("leased_by", sa.String(64)),
    )
    op.create_table(
        "reach_vex",
        sa.Column("vex_id", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("cas_uri", sa.Text, nullable=False),
        sa.Column("dsse_uri", sa.Text, nullable=False),
        sa.Column("graph_hash", sa.String(71), nullable=False),
        sa.Column("catalog_digest", sa.String(71), nullable=False),
        sa.Column("evaluation_id", sa.String(26), nullable=False),
        sa.Column("product", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reach_vex")
    op.drop_table("reach_registrations")
    op.drop_table("reach_unknowns")
    op.drop_table("reach_verdict_history")
    op.drop_table("reach_verdicts")
    op.drop_table("reach_evaluations")
    op.drop_table("reach_catalogs")
