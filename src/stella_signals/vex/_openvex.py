"""OpenVEX 0.2.0 documents from an evaluation (SPEC §15), as RFC 8785 bytes.

The document's ``@id`` is derived from its content: the SHA-256 of the canonical document
without ``@id`` and without any timestamp. The same evaluation, product and author therefore
give the same ``@id`` and the same bytes apart from the timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stella_signals.canonical import canonical_json
from stella_signals.clock import format_utc
from stella_signals.digests import sha256_hex
from stella_signals.reach import Evaluation
from stella_signals.vex._statements import (
    VexStatement,
    VexStatus,
    action_statement,
    impact_statement,
    status_notes,
    vex_statements,
)

__all__ = ["OPENVEX_CONTEXT", "OPENVEX_ID_PREFIX", "render_openvex"]

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
#: ``@id`` = this prefix + the hex SHA-256 of the document without ``@id`` and timestamps.
#: ``.invalid`` (RFC 2606): an IRI that names the content and resolves nowhere.
OPENVEX_ID_PREFIX = "https://stella-signals.invalid/vex/openvex/"
_TOOLING = "stella-signals (runtime reachability verdicts, SPEC §15)"


def render_openvex(
    evaluation: Evaluation, *, product: str, author: str, timestamp: datetime
) -> bytes:
    """The OpenVEX document of ``evaluation``: one statement per (vulnerability, installed
    package), about ``product`` with the package as its subcomponent.

    `EmptyVex` when the evaluation has no verdict (OpenVEX needs one statement at least).
    """
    if not product or not author:
        raise ValueError("render_openvex needs a product and an author")
    statements = [
        _statement(s, product, evaluation.catalog_digest) for s in vex_statements(evaluation)
    ]
    body: dict[str, Any] = {
        "@context": OPENVEX_CONTEXT,
        "author": author,
        "tooling": _TOOLING,
        "version": 1,
        "statements": statements,
    }
    document_id = OPENVEX_ID_PREFIX + sha256_hex(canonical_json(body))
    when = format_utc(timestamp)
    for statement in statements:
        statement["timestamp"] = when
        if "action_statement" in statement:
            statement["action_statement_timestamp"] = when
    return canonical_json({**body, "@id": document_id, "timestamp": when})


def _statement(statement: VexStatement, product: str, catalog_digest: str) -> dict[str, Any]:
    vulnerability: dict[str, Any] = {"name": statement.vuln_id}
    aliases = [a for a in statement.aliases if a != statement.vuln_id]
    if aliases:
        vulnerability["aliases"] = aliases
    result: dict[str, Any] = {
        "vulnerability": vulnerability,
        "products": [{"@id": product, "subcomponents": [{"@id": statement.package}]}],
        "status": statement.status.value,
        "status_notes": status_notes(statement, catalog_digest=catalog_digest),
    }
    if statement.status is VexStatus.NOT_AFFECTED:
        result["justification"] = "vulnerable_code_not_in_execute_path"
        result["impact_statement"] = impact_statement(statement)
    elif statement.status is VexStatus.AFFECTED:
        result["action_statement"] = action_statement(statement)
    return result
