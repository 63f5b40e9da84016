"""Initial schema: tokens, graphs, ingests, facts, append-only timeline.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ACCEPTED = "status IN ('ingested', 'orphaned')"


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(26), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("tenants", sa.Text, nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "graphs",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("graph_hash", sa.String(71), primary_key=True),
        sa.Column("cas_uri", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("nodes", sa.BigInteger, nullable=False),
        sa.Column("edges", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ingests",
        sa.Column("ingest_id", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_sha256", sa.String(64)),
        sa.Column("graph_hash", sa.String(71)),
        sa.Column("size", sa.BigInteger),
        sa.Column("reason", sa.String(64)),
        sa.Column("detail", sa.Text),
        sa.Column("receipt", sa.Text),
        sa.Column("receipt_dsse", sa.LargeBinary),
        sa.Column("timeline_event_id", sa.String(26)),
    )
    op.create_index("ix_ingests_tenant_id", "ingests", ["tenant", "ingest_id"])
    op.create_index(
        "ux_ingests_accepted",
        "ingests",
        ["tenant", "content_sha256", "graph_hash"],
        unique=True,
        sqlite_where=sa.text(_ACCEPTED),
        postgresql_where=sa.text(_ACCEPTED),
    )
    op.create_table(
        "facts",
        sa.Column("ingest_id", sa.String(26), sa.ForeignKey("ingests.ingest_id"), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("symbol_id", sa.Text, nullable=False),
        sa.Column("purl", sa.Text, nullable=False),
        sa.Column("container", sa.Text),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node", sa.Text),
        sa.PrimaryKeyConstraint("ingest_id", "seq"),
    )
    op.create_index("ix_facts_tenant_ingest", "facts", ["tenant", "ingest_id"])
    op.create_table(
        "timeline_events",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.String(26), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hash", sa.String(71), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_events_tenant_type", "timeline_events", ["tenant", "event_type", "seq"])
    # Append-only: the database itself refuses to edit or delete a timeline event.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER timeline_events_no_{verb.lower()} BEFORE {verb} "
                "ON timeline_events BEGIN "
                "SELECT RAISE(ABORT, 'timeline events are append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION timeline_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'timeline events are append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER timeline_events_append_only BEFORE UPDATE OR DELETE "
            "ON timeline_events FOR EACH ROW EXECUTE FUNCTION timeline_events_append_only()"
        )


def downgrade() -> None:
    raise NotImplementedError("the timeline is append-only: no downgrade")
