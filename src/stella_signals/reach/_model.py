"""SPEC §15: the vocabulary of reachability verdicts. Pure data, no I/O.

A *target* is one (vulnerability, package, symbol) of a vulnerability catalog that is a
candidate in a graph (its package is installed there at an affected version). Its *state*
combines what the static graph says (a path from a root or not, or nothing when the symbol is
in no scanned code) with what ran (observed, or watched for the whole window and not
observed, or nothing known). See docs/verdicts.md for the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stella_signals.clock import format_utc

CATALOG_SCHEMA = "stella.vuln-catalog/v1"


class Static(StrEnum):
    """What the graph says of a target."""

    REACHABLE = "SR"
    UNREACHABLE = "SU"
    UNKNOWN = "?"  # no graph, or the symbol is in no scanned code


class Runtime(StrEnum):
    """What the runtime evidence of the window says of a target."""

    OBSERVED = "RO"
    NOT_OBSERVED = "RU"  # watched for the whole window by every manifest, never seen
    UNKNOWN = "?"


class State(StrEnum):
    U = "U"
    SR = "SR"
    SU = "SU"
    RO = "RO"
    RU = "RU"
    CR = "CR"
    CU = "CU"
    X = "X"

    @property
    def affected(self) -> bool:
        """The vulnerable code ran (OpenVEX ``affected``)."""
        return self in (State.CR, State.RO)

    @property
    def not_affected(self) -> bool:
        """Statically unreachable and watched without being seen (OpenVEX ``not_affected``)."""
        return self is State.CU


#: (static, runtime) → state. SR with RU is RU: the graph allows a path the window never took,
#: which proves nothing either way (under investigation), unlike SU with RU (CU).
_COMBINE: dict[tuple[Static, Runtime], State] = {
    (Static.UNKNOWN, Runtime.UNKNOWN): State.U,
    (Static.UNKNOWN, Runtime.OBSERVED): State.RO,
    (Static.UNKNOWN, Runtime.NOT_OBSERVED): State.RU,
    (Static.REACHABLE, Runtime.UNKNOWN): State.SR,
    (Static.UNREACHABLE, Runtime.UNKNOWN): State.SU,
    (Static.REACHABLE, Runtime.OBSERVED): State.CR,
    (Static.UNREACHABLE, Runtime.NOT_OBSERVED): State.CU,
    (Static.UNREACHABLE, Runtime.OBSERVED): State.X,
    (Static.REACHABLE, Runtime.NOT_OBSERVED): State.RU,
}

#: How far a verdict may be trusted, per state (documented in docs/verdicts.md).
CONFIDENCE: dict[State, float] = {
    State.CR: 1.0,
    State.RO: 0.9,
    State.CU: 0.9,
    State.X: 0.5,
    State.SR: 0.6,
    State.RU: 0.6,
    State.SU: 0.5,
    State.U: 0.0,
}


def combine(static: Static, runtime: Runtime) -> State:
    return _COMBINE[(static, runtime)]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One advisory against one PyPI package (SPEC §15 catalog entry)."""

    vuln_id: str
    package: str  # pkg:pypi/<PEP 503 name>, no version
    affected: str  # a PEP 440 specifier set ("" = every version)
    aliases: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    #: ``module:qualname`` of the vulnerable functions; empty for a package-level entry.
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    #: ``sha256:`` of the catalog's canonical (RFC 8785) bytes: names it in verdicts and VEX.
    digest: str


@dataclass(frozen=True, slots=True)
class RuntimeEvidence:
    hits: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    ingest_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "first_seen": format_utc(self.first_seen) if self.first_seen else None,
            "last_seen": format_utc(self.last_seen) if self.last_seen else None,
            "ingest_ids": list(self.ingest_ids),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """SPEC §15 verdict for one target."""

    vuln_id: str
    package: str  # the installed package: pkg:pypi/<name>@<version>
    symbol: str  # module:qualname, or "" for a package-level entry
    state: State
    confidence: float
    graph_hash: str
    window_start: datetime | None
    window_end: datetime | None
    computed_at: datetime
    #: node ids from a root to the target (SR and CR), and their display names.
    path: tuple[str, ...] = ()
    path_display: tuple[str, ...] = ()
    runtime: RuntimeEvidence = field(default_factory=RuntimeEvidence)
    #: ``sha256:`` of each receipt used (signed receipt JSON, canonical bytes), sorted.
    evidence_digests: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies a verdict across evaluations: its history is keyed on this."""
        return (self.vuln_id, self.package, self.symbol)

    def to_json(self) -> dict[str, Any]:
        return {
            "vuln_id": self.vuln_id,
            "aliases": list(self.aliases),
            "package": self.package,
            "symbol": self.symbol,
            "state": self.state.value,
            "confidence": self.confidence,
            "path": list(self.path),
            "path_display": list(self.path_display),
            "runtime": self.runtime.to_json(),
            "window": {
                "start": format_utc(self.window_start) if self.window_start else None,
                "end": format_utc(self.window_end) if self.window_end else None,
            },
            "graph_hash": self.graph_hash,
            "evidence_digests": list(self.evidence_digests),
            "fixed": list(self.fixed),
            "computed_at": format_utc(self.computed_at),
        }


@dataclass(frozen=True, slots=True)
class Unknown:
    """Where evidence is too thin to trust a ``not_affected`` (SPEC §15, issue 18 item 5).

    ``kind``: ``target_not_scanned`` (a catalog symbol in no scanned code), ``unmapped_symbol``
    (a runtime symbol the graph lacks), ``unexpected_edge`` (a runtime caller→callee edge the
    graph lacks), ``disagreement`` (an X verdict).
    """

    kind: str
    graph_hash: str
    symbol: str
    detail: str
    vuln_id: str | None = None
    purl: str | None = None
    ingest_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "graph_hash": self.graph_hash,
            "symbol": self.symbol,
            "detail": self.detail,
            "vuln_id": self.vuln_id,
            "purl": self.purl,
            "ingest_ids": list(self.ingest_ids),
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One evaluation of a catalog against a graph and the runtime evidence of a window."""

    graph_hash: str
    catalog_digest: str
    window_start: datetime | None
    window_end: datetime | None
    computed_at: datetime
    verdicts: tuple[Verdict, ...]
    unknowns: tuple[Unknown, ...] = ()
    #: every receipt digest the evaluation read, sorted (the evidence to re-derive it).
    evidence_digests: tuple[str, ...] = ()
    #: the probe-manifest digests of the ingests used, sorted.
    manifest_digests: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "graph_hash": self.graph_hash,
            "catalog_digest": self.catalog_digest,
            "window": {
                "start": format_utc(self.window_start) if self.window_start else None,
                "end": format_utc(self.window_end) if self.window_end else None,
            },
            "computed_at": format_utc(self.computed_at),
            "verdicts": [v.to_json() for v in self.verdicts],
            "unknowns": [u.to_json() for u in self.unknowns],
            "evidence_digests": list(self.evidence_digests),
            "manifest_digests": list(self.manifest_digests),
        }
