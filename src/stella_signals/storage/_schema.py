"""The metadata schema, as SQLAlchemy Core tables (one schema for SQLite and PostgreSQL).

Migrations under ``migrations/`` create exactly this; a test compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "HEAD_REVISION",
    "facts",
    "graphs",
    "imported_events",
    "imported_evidence",
    "ingests",
    "metadata",
    "observed_edges",
    "orphan_queue",
    "reach_catalogs",
    "reach_evaluations",
    "reach_registrations",
    "reach_unknowns",
    "reach_verdict_history",
    "reach_verdicts",
    "reach_vex",
    "service_keys",
    "tenant_policies",
    "time_anchors",
    "timeline_events",
    "tokens",
    "trusted_keys",
]

#: The newest migration under ``migrations/versions`` (a test holds the two together): a
#: database at this revision has exactly the tables below.
HEAD_REVISION = "0012"

metadata = sa.MetaData()

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_id", sa.String(26), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("tenants", sa.Text, nullable=False),  # JSON array
    sa.Column("scopes", sa.Text, nullable=False),  # JSON array
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
)

graphs = sa.Table(
    "graphs",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("graph_hash", sa.String(71), primary_key=True),
    sa.Column("cas_uri", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("nodes", sa.BigInteger, nullable=False),
    sa.Column("edges", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dsse_digest", sa.String(71)),
)

symbol_manifests = sa.Table(
    "symbol_manifests",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("cas_uri", sa.Text, nullable=False),
    sa.Column("entries", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

ingests = sa.Table(
    "ingests",
    metadata,
    sa.Column("ingest_id", sa.String(26), primary_key=True),
    sa.Column("tenant", sa.String(63), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("content_sha256", sa.String(64)),
    sa.Column("graph_hash", sa.String(71)),
    sa.Column("size", sa.BigInteger),
    sa.Column("reason", sa.String(64)),
    sa.Column("detail", sa.Text),
    sa.Column("receipt", sa.Text),  # JSON object
    sa.Column("receipt_dsse", sa.LargeBinary),
    sa.Column("timeline_event_id", sa.String(26)),
    sa.Index("ix_ingests_tenant_id", "tenant", "ingest_id"),
    # One accepted ingest per (tenant, bytes, graph): the duplicate rule of SPEC §6.
    sa.Index(
        "ux_ingests_accepted",
        "tenant",
        "content_sha256",
        "graph_hash",
        unique=True,
        sqlite_where=sa.text("status IN ('ingested', 'orphaned')"),
        postgresql_where=sa.text("status IN ('ingested', 'orphaned')"),
    ),
)

facts = sa.Table(
    "facts",
    metadata,
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
    sa.Index("ix_facts_tenant_ingest", "tenant", "ingest_id"),
)

#: Caller → callee pairs each ingest observed (migration 0012): bounded per ingest by the
#: parser's ``max_edges``; ``in_graph`` is decided at ingest (graphs never change).
observed_edges = sa.Table(
    "observed_edges",
    metadata,
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
    sa.Index("ix_observed_edges_tenant_ingest", "tenant", "ingest_id"),
)

timeline_events = sa.Table(
    "timeline_events",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("event_id", sa.String(26), nullable=False, unique=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("hash", sa.String(71), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the event exactly as hashed (JSON)
    sa.Index("ix_events_tenant_type", "tenant", "event_type", "seq"),
)

trusted_keys = sa.Table(
    "trusted_keys",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("purpose", sa.String(16), primary_key=True),
    sa.Column("keyid", sa.String(128), primary_key=True),
    sa.Column("public_pem", sa.Text, nullable=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

tenant_policies = sa.Table(
    "tenant_policies",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("require_dsse", sa.Boolean, nullable=False),
    sa.Column("dsse_threshold", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

orphan_queue = sa.Table(
    "orphan_queue",
    metadata,
    sa.Column("ingest_id", sa.String(26), sa.ForeignKey("ingests.ingest_id"), primary_key=True),
    sa.Column("tenant", sa.String(63), nullable=False),
    sa.Column("graph_hash", sa.String(71), nullable=False),
    sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("leased_by", sa.String(64)),
    sa.Index("ix_orphans_due", "next_attempt_at"),
    sa.Index("ix_orphans_graph", "tenant", "graph_hash"),
)

time_anchors = sa.Table(
    "time_anchors",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("counter", sa.BigInteger, primary_key=True),
    sa.Column("anchor_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
)

imported_events = sa.Table(
    "imported_events",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("origin_event_id", sa.String(26), primary_key=True),
    sa.Column("event_id", sa.String(26), nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
)

imported_evidence = sa.Table(
    "imported_evidence",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("ingest_id", sa.String(26), primary_key=True),
    sa.Column("bundle_sha256", sa.String(64), nullable=False),
    sa.Column("receipt", sa.Text, nullable=False),
    sa.Column("receipt_dsse", sa.LargeBinary, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
)

service_keys = sa.Table(
    "service_keys",
    metadata,
    sa.Column("keyid", sa.String(128), primary_key=True),
    sa.Column("public_pem", sa.Text, nullable=False),
    sa.Column("private_pem", sa.LargeBinary),  # only when no key file is configured
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retired_at", sa.DateTime(timezone=True)),
)

# -- reachability verdicts (SPEC §15, migration 0011) ------------------------------------------

reach_catalogs = sa.Table(
    "reach_catalogs",
    metadata,
    sa.Column("tenant", sa.String(63), primary_key=True),
    sa.Column("digest", sa.String(71), primary_key=True),
    sa.Column("cas_uri", sa.Text, nullable=False),
    sa.Column("entries", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

reach_evaluations = sa.Table(
    "reach_evaluations",
    metadata,
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
    sa.Index("ix_reach_evaluations_pair", "tenant", "graph_hash", "catalog_digest"),
)

#: The current verdict per (tenant, graph, catalog, vulnerability, package, symbol).
reach_verdicts = sa.Table(
    "reach_verdicts",
    metadata,
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
    sa.Index("ix_reach_verdicts_list", "tenant", "verdict_id"),
)

reach_verdict_history = sa.Table(
    "reach_verdict_history",
    metadata,
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
    sa.Index("ix_reach_history_target", "tenant", "graph_hash", "vuln_id"),
)

#: The unknowns of the latest evaluation of each (graph, catalog).
reach_unknowns = sa.Table(
    "reach_unknowns",
    metadata,
    sa.Column("evaluation_id", sa.String(26), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(63), nullable=False),
    sa.Column("graph_hash", sa.String(71), nullable=False),
    sa.Column("catalog_digest", sa.String(71), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ix_reach_unknowns_pair", "tenant", "graph_hash", "catalog_digest"),
)

#: (graph, catalog) pairs re-evaluated when their graph's evidence changes.
reach_registrations = sa.Table(
    "reach_registrations",
    metadata,
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

reach_vex = sa.Table(
    "reach_vex",
    metadata,
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
