"""One VEX statement per (vulnerability, installed package): the merge of its verdicts.

An evaluation holds one verdict per (vulnerability, package, symbol). A VEX statement speaks
of a vulnerability in a package, so the verdicts of one (vulnerability, package) merge into
one statement, and the worst verdict wins: ``affected`` when any symbol's state is affected
(CR, RO), ``not_affected`` only when every symbol's state is CU, ``under_investigation``
otherwise. Both renderers (OpenVEX, CycloneDX) take their statements from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from packageurl import PackageURL

from stella_signals.clock import format_utc
from stella_signals.errors import InvalidInput
from stella_signals.reach import Evaluation, State, Verdict

__all__ = [
    "EmptyVex",
    "VexStatement",
    "VexStatus",
    "action_statement",
    "impact_statement",
    "status_notes",
    "status_of",
    "vex_statements",
    "window_text",
]


class EmptyVex(InvalidInput):
    """The evaluation has no verdict: a VEX document needs at least one statement."""

    default_reason = "vex_empty"


class VexStatus(StrEnum):
    """The three OpenVEX statuses a verdict can lead to (``fixed`` is never claimed)."""

    AFFECTED = "affected"
    UNDER_INVESTIGATION = "under_investigation"
    NOT_AFFECTED = "not_affected"


#: Worst first: the merged status of several verdicts is the one ranked highest.
_RANK = {VexStatus.AFFECTED: 2, VexStatus.UNDER_INVESTIGATION: 1, VexStatus.NOT_AFFECTED: 0}


def status_of(state: State) -> VexStatus:
    """SPEC §15: CR and RO → affected, CU → not_affected, every other state under
    investigation."""
    if state.affected:
        return VexStatus.AFFECTED
    if state.not_affected:
        return VexStatus.NOT_AFFECTED
    return VexStatus.UNDER_INVESTIGATION


@dataclass(frozen=True, slots=True)
class VexStatement:
    """The merged verdicts of one vulnerability in one installed package."""

    vuln_id: str
    package: str  # pkg:pypi/<name>@<version>
    status: VexStatus
    #: the verdicts merged, sorted by symbol.
    verdicts: tuple[Verdict, ...]
    aliases: tuple[str, ...]
    fixed: tuple[str, ...]
    #: every receipt digest the verdicts used, sorted, each once.
    evidence_digests: tuple[str, ...]

    @property
    def name(self) -> str:
        """The package name of the purl (``jinja2`` of ``pkg:pypi/jinja2@3.1.2``)."""
        return _purl(self.package).name

    @property
    def version(self) -> str | None:
        return _purl(self.package).version

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(_symbol(v) for v in self.verdicts)

    @property
    def graph_hashes(self) -> tuple[str, ...]:
        return tuple(sorted({v.graph_hash for v in self.verdicts}))


def vex_statements(evaluation: Evaluation) -> tuple[VexStatement, ...]:
    """The statements of ``evaluation``, sorted by (vulnerability, package); `EmptyVex` when
    it has no verdict. Independent of the order of ``evaluation.verdicts``."""
    if not evaluation.verdicts:
        raise EmptyVex(
            f"evaluation of graph {evaluation.graph_hash} against catalog "
            f"{evaluation.catalog_digest} has no verdict: no candidate target, nothing to state"
        )
    groups: dict[tuple[str, str], list[Verdict]] = {}
    for verdict in sorted(evaluation.verdicts, key=lambda v: v.key):
        _purl(verdict.package)  # refuse a package that is not a purl before rendering
        groups.setdefault((verdict.vuln_id, verdict.package), []).append(verdict)
    return tuple(_merge(vuln_id, package, group) for (vuln_id, package), group in groups.items())


def _merge(vuln_id: str, package: str, verdicts: list[Verdict]) -> VexStatement:
    statuses = [status_of(v.state) for v in verdicts]
    status = max(statuses, key=_RANK.__getitem__)
    return VexStatement(
        vuln_id=vuln_id,
        package=package,
        status=status,
        verdicts=tuple(verdicts),
        aliases=_union(v.aliases for v in verdicts),
        fixed=_union(v.fixed for v in verdicts),
        evidence_digests=tuple(sorted({d for v in verdicts for d in v.evidence_digests})),
    )


def _union(parts: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """Every value once, in first-seen order (the catalog's order; verdicts come sorted)."""
    return tuple(dict.fromkeys(value for part in parts for value in part))


def _symbol(verdict: Verdict) -> str:
    return verdict.symbol or "(whole package)"


def _purl(package: str) -> PackageURL:
    try:
        return PackageURL.from_string(package)
    except ValueError as exc:
        raise InvalidInput(
            f"verdict package {package!r} is not a package URL: {exc}", reason="vex_package"
        ) from None


def window_text(start: datetime | None, end: datetime | None) -> str:
    return (
        f"{format_utc(start) if start else 'the beginning'} to {format_utc(end) if end else 'now'}"
    )


def status_notes(statement: VexStatement, *, catalog_digest: str) -> str:
    """Short, readable: each symbol's state and runtime hits, the graph, the catalog, the
    window, and the receipt digests the verdicts rest on."""
    first = statement.verdicts[0]
    parts = []
    for verdict in statement.verdicts:
        detail = f"{verdict.runtime.hits} runtime hit(s)"
        if verdict.path:
            detail += f", static path of {len(verdict.path)} node(s) from a root"
        parts.append(f"{_symbol(verdict)} {verdict.state.value} ({detail})")
    evidence = ", ".join(statement.evidence_digests) or "none (no runtime receipt was used)"
    return (
        f"stella-signals reachability verdicts: {'; '.join(parts)}. "
        f"Graph {', '.join(statement.graph_hashes)}; catalog {catalog_digest}; "
        f"window {window_text(first.window_start, first.window_end)}. "
        f"Evidence (receipt digests): {evidence}."
    )


def impact_statement(statement: VexStatement) -> str:
    """Why not_affected: statically unreachable and watched without being seen (all CU)."""
    first = statement.verdicts[0]
    return (
        f"The vulnerable code ({', '.join(statement.symbols)}) of {statement.package} has no "
        f"static path from any root of graph {', '.join(statement.graph_hashes)}, and the "
        f"runtime probes watched it for the whole window "
        f"{window_text(first.window_start, first.window_end)} without observing it."
    )


def action_statement(statement: VexStatement) -> str:
    """What to do about an affected package: the fixed versions, or that none is known."""
    ran = ", ".join(_symbol(v) for v in statement.verdicts if v.state.affected)
    if statement.fixed:
        return (
            f"Upgrade {statement.name} from {statement.version or 'the installed version'} to "
            f"a fixed version: {', '.join(statement.fixed)}. The vulnerable code ran: {ran}."
        )
    return (
        f"No fixed version of {statement.name} is known for {statement.vuln_id}: remove the "
        f"package or keep the vulnerable code from running, and watch the advisory for a "
        f"fix. The vulnerable code ran: {ran}."
    )
