"""CycloneDX 1.6 VEX from an evaluation (SPEC §15), built with cyclonedx-python-lib.

One ``vulnerabilities[]`` entry per (vulnerability, installed package), merged as OpenVEX
statements are (`vex_statements`); ``affects`` points at the installed package's component.
The serial number is a name-based UUID (uuid5) of the SHA-256 of the document rendered without
serial number and timestamp, so the same inputs give the same bytes apart from the timestamp.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from packageurl import PackageURL

from stella_signals.canonical import canonical_json
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

if TYPE_CHECKING:
    from cyclonedx.model.vulnerability import Vulnerability

__all__ = ["CYCLONEDX_SERIAL_PREFIX", "render_cyclonedx"]

#: The serial number is ``uuid5(NAMESPACE_URL, this prefix + hex SHA-256 of the content)``.
CYCLONEDX_SERIAL_PREFIX = "https://stella-signals.invalid/vex/cyclonedx/"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Each VEX status's CycloneDX analysis state, by the library's member name. The library
#: (about 0.15 s of imports) loads when a document is rendered, not with the server.
_STATE = {
    VexStatus.AFFECTED: "EXPLOITABLE",
    VexStatus.NOT_AFFECTED: "NOT_AFFECTED",
    VexStatus.UNDER_INVESTIGATION: "IN_TRIAGE",
}


def render_cyclonedx(evaluation: Evaluation, *, product: str, timestamp: datetime) -> bytes:
    """The CycloneDX 1.6 VEX BOM of ``evaluation`` about ``product`` (a purl, or any name),
    as RFC 8785 bytes. `EmptyVex` when the evaluation has no verdict."""
    if not product:
        raise ValueError("render_cyclonedx needs a product")
    if timestamp.tzinfo is None:
        raise ValueError("refusing a naive timestamp")
    statements = vex_statements(evaluation)
    draft = _render(statements, evaluation.catalog_digest, product, UUID(int=0), _EPOCH)
    del draft["serialNumber"]
    del draft["metadata"]["timestamp"]
    serial = uuid5(NAMESPACE_URL, CYCLONEDX_SERIAL_PREFIX + sha256_hex(canonical_json(draft)))
    return canonical_json(
        _render(statements, evaluation.catalog_digest, product, serial, timestamp)
    )


def _render(
    statements: tuple[VexStatement, ...],
    catalog_digest: str,
    product: str,
    serial: UUID,
    timestamp: datetime,
) -> dict[str, Any]:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    bom = Bom(serial_number=serial)
    bom.metadata.timestamp = timestamp.astimezone(UTC)
    root = Component(
        name=product, type=ComponentType.APPLICATION, bom_ref=product, purl=_maybe_purl(product)
    )
    bom.metadata.component = root
    components: dict[str, Component] = {}
    for statement in statements:
        if statement.package not in components:
            purl = PackageURL.from_string(statement.package)
            components[statement.package] = Component(
                name=purl.name,
                version=purl.version,
                purl=purl,
                bom_ref=statement.package,
                type=ComponentType.LIBRARY,
            )
        bom.vulnerabilities.add(_vulnerability(statement, catalog_digest))
    for component in components.values():
        bom.components.add(component)
    bom.register_dependency(root, components.values())
    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    return document


def _vulnerability(statement: VexStatement, catalog_digest: str) -> Vulnerability:
    from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisState
    from cyclonedx.model.vulnerability import BomTarget, Vulnerability, VulnerabilityAnalysis

    detail = status_notes(statement, catalog_digest=catalog_digest)
    justification = None
    recommendation = None
    if statement.status is VexStatus.NOT_AFFECTED:
        justification = ImpactAnalysisJustification.CODE_NOT_REACHABLE
        detail = f"{impact_statement(statement)} {detail}"
    elif statement.status is VexStatus.AFFECTED:
        recommendation = action_statement(statement)
    aliases = [a for a in statement.aliases if a != statement.vuln_id]
    if aliases:
        detail += f" Also known as: {', '.join(aliases)}."
    return Vulnerability(
        bom_ref=f"{statement.vuln_id}|{statement.package}",
        id=statement.vuln_id,
        recommendation=recommendation,
        analysis=VulnerabilityAnalysis(
            state=ImpactAnalysisState[_STATE[statement.status]],
            justification=justification,
            detail=detail,
        ),
        affects=[BomTarget(ref=statement.package)],
    )


def _maybe_purl(product: str) -> PackageURL | None:
    if not product.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(product)
    except ValueError:
        return None
