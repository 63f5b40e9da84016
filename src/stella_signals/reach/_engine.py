"""The verdict engine (SPEC §15): a catalog, a graph index and the runtime evidence of a
window → one `Verdict` per target, and the `Unknown`s where evidence is thin. Pure: the
caller reads the graph, facts and manifests; the same inputs always give an equal
`Evaluation`. The rules are written out in docs/verdicts.md.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Protocol

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from stella_signals.graph import GraphIndex
from stella_signals.pyscan import normalise_dist, symbol_id
from stella_signals.reach._catalog import parse_symbol
from stella_signals.reach._model import (
    CONFIDENCE,
    Catalog,
    CatalogEntry,
    Evaluation,
    Runtime,
    RuntimeEvidence,
    State,
    Static,
    Unknown,
    Verdict,
    combine,
)
from stella_signals.trace import ProbeManifest

__all__ = [
    "FactLike",
    "IngestEvidence",
    "ObservedEdge",
    "evaluate",
    "target_symbol_id",
    "watches_whole_window",
]

_PYPI = "pkg:pypi/"
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


class FactLike(Protocol):
    """One aggregated runtime fact of an ingest (`ports.FactRow` is one): ``node`` is the
    graph node id it mapped to, None when the graph has no such symbol."""

    @property
    def symbol_id(self) -> str: ...
    @property
    def purl(self) -> str: ...
    @property
    def hits(self) -> int: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def last_seen(self) -> datetime: ...
    @property
    def node(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ObservedEdge:
    """A caller → callee pair the probe saw at run time (discovery mode), and how often."""

    caller_symbol_id: str
    symbol_id: str
    count: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestEvidence:
    """What one ingest brings to an evaluation.

    ``receipt_digest``: ``sha256:`` + hex SHA-256 of the signed receipt, i.e. of the DSSE
    envelope bytes as stored (``IngestRecord.receipt_dsse``: the canonical JSON that
    `Receipt.sign` returns). Receipts are named this way everywhere: a superseding receipt's
    ``supersedes``, and ``cas://evidence/receipts/<hex>`` where a replaced one is kept.
    ``manifest``: the parsed probe manifest of its trace, None when it came without one.
    """

    ingest_id: str
    receipt_digest: str
    received_at: datetime
    manifest: ProbeManifest | None = None
    #: ``sha256:`` of the probe manifest's bytes as stored (listed in the evaluation).
    manifest_digest: str | None = None
    facts: Sequence[FactLike] = ()
    edges: Sequence[ObservedEdge] = ()


def target_symbol_id(package: str, symbol: str) -> str:
    """SPEC §14 symbol id of ``module:qualname`` in the PyPI package ``pkg:pypi/<name>``
    (with or without ``@version``)."""
    parsed = parse_symbol(symbol)
    if parsed is None:
        raise ValueError(f"{symbol!r} is not module:qualname")
    name = package.removeprefix(_PYPI).partition("@")[0]
    return symbol_id(normalise_dist(name), *parsed)


def watches_whole_window(manifest: ProbeManifest, texts: Iterable[str]) -> bool:
    """True when ``manifest`` supports "did not run" for a target named by any of ``texts``
    (its ``module:qualname`` or its symbol id): targeted, not disabled, counts not
    ``incomplete``, nothing dropped, and the target listed in ``targets_watched_whole_window``."""
    watched = _watched(manifest)
    return watched is not None and any(text in watched for text in texts)


def _watched(manifest: ProbeManifest) -> frozenset[str] | None:
    """The targets ``manifest`` watched for its whole window, or None when it can support no
    "did not run" at all (discovery, disabled, incomplete counts, records dropped)."""
    extra = manifest.extra
    if manifest.mode != "targeted" or extra.get("disabled") or manifest.dropped > 0:
        return None
    if extra.get("counts") == "incomplete":
        return None
    watched = extra.get("targets_watched_whole_window")
    if not isinstance(watched, Sequence) or isinstance(watched, str):
        return None
    return frozenset(w for w in watched if isinstance(w, str))


# -- the graph side ---------------------------------------------------------------------------


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    return _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]).decode("latin-1"), text)


def _installed(purl: str) -> tuple[str, Version] | None:
    """(PEP 503 name, version) of a ``pkg:pypi/<name>@<version>`` node purl, else None."""
    if not purl.startswith(_PYPI):
        return None
    body = purl[len(_PYPI) :].split("?", 1)[0].split("#", 1)[0]
    name, at, version = body.partition("@")
    if not at or not name or not version:
        return None
    try:
        return normalise_dist(_unescape(name)), Version(_unescape(version))
    except InvalidVersion:
        return None


class _Graph:
    """The parts of an index the engine walks: adjacency (CSR) and one multi-source BFS."""

    def __init__(self, index: GraphIndex) -> None:
        self.index = index
        self.n = index.nodes_total
        self._bfs: tuple[list[int], list[int]] | None = None
        self._csr: tuple[list[int], list[int]] | None = None
        self._first: dict[str, int] | None = None

    def csr(self) -> tuple[list[int], list[int]]:
        """(start offset per node + end, callee numbers): the edges of each caller, in index
        order. A built index lists its edges sorted by caller already (canonical order): then
        the callees are ``edge_to`` itself; otherwise a stable counting sort. Lists, not
        arrays: the search reads them a few million times, and lists need no boxing."""
        if self._csr is None:
            n, edge_from, edge_to = self.n, self.index.edge_from, self.index.edge_to
            counts = Counter(edge_from)
            offsets = list(accumulate((counts.get(i, 0) for i in range(n)), initial=0))
            if edge_from == array(edge_from.typecode, sorted(edge_from)):
                targets = list(edge_to)
            else:
                fill = list(offsets)
                targets = [0] * len(edge_to)
                for a, b in zip(edge_from, edge_to, strict=True):
                    targets[fill[a]] = b
                    fill[a] += 1
            self._csr = (offsets, targets)
        return self._csr

    def bfs(self) -> tuple[list[int], list[int]]:
        """(parent per node: -1 for a root, -2 unreached; the reached nodes in the order the
        search met them). Roots enter by node number (canonical order), callees in edge
        order: the shortest path found is the same for the same graph."""
        if self._bfs is None:
            offsets, targets = self.csr()
            parent = [-2] * self.n
            order: list[int] = []
            meet = order.append
            for root in sorted(set(self.index.roots)):
                if parent[root] == -2:
                    parent[root] = -1
                    meet(root)
            for node in order:  # grows while it is read: a breadth-first queue
                for callee in targets[offsets[node] : offsets[node + 1]]:
                    if parent[callee] == -2:
                        parent[callee] = node
                        meet(callee)
            self._bfs = (parent, order)
        return self._bfs

    def first_reached(self) -> dict[str, int]:
        """purl → its node reached first by the search (purls with a reachable node only)."""
        if self._first is None:
            _, order = self.bfs()
            purls = self.index.node_purls
            first: dict[str, int] = {}
            for node in order:
                purl = purls[node]
                if purl is not None and purl not in first:
                    first[purl] = node
            self._first = first
        return self._first

    def path(self, node: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        parent, _ = self.bfs()
        chain = [node]
        while parent[chain[-1]] >= 0:
            chain.append(parent[chain[-1]])
        chain.reverse()
        ids = self.index.node_ids
        displays = self.index.node_displays or ids
        return tuple(ids[i] for i in chain), tuple(displays[i] for i in chain)

    def has_edge(self, a: int, b: int) -> bool:
        offsets, targets = self.csr()
        return b in targets[offsets[a] : offsets[a + 1]]


# -- targets ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Advisory:
    """The entries of one (vuln_id, package) that match one installed version, merged."""

    vuln_id: str
    package: str  # pkg:pypi/<name>@<version>, or pkg:pypi/<name> without a graph
    aliases: tuple[str, ...]
    fixed: tuple[str, ...]
    symbols: tuple[str, ...]  # "" = the package as a whole


def _merge(vuln_id: str, package: str, entries: Sequence[CatalogEntry]) -> _Advisory:
    symbols: set[str] = set()
    for entry in entries:
        symbols.update(entry.symbols or ("",))
    fixed = {v for e in entries for v in e.fixed}
    return _Advisory(
        vuln_id=vuln_id,
        package=package,
        aliases=tuple(sorted({a for e in entries for a in e.aliases})),
        fixed=tuple(sorted(fixed, key=Version)),
        symbols=tuple(sorted(symbols)),
    )


def _advisories(catalog: Catalog, graph: GraphIndex | None) -> list[_Advisory]:
    grouped: dict[tuple[str, str], list[CatalogEntry]] = defaultdict(list)
    for entry in catalog.entries:
        grouped[(entry.vuln_id, entry.package)].append(entry)
    if graph is None:
        return [_merge(v, p, entries) for (v, p), entries in grouped.items()]
    installed: dict[str, list[tuple[Version, str]]] = defaultdict(list)
    for purl in sorted({p for p in graph.node_purls if p is not None and p.startswith(_PYPI)}):
        found = _installed(purl)
        if found is not None:
            installed[found[0]].append((found[1], purl))
    out: list[_Advisory] = []
    for (vuln_id, package), entries in grouped.items():
        name = package[len(_PYPI) :]
        for version, purl in installed.get(name, ()):
            matching = [
                e for e in entries if SpecifierSet(e.affected).contains(version, prereleases=True)
            ]
            if matching:
                out.append(_merge(vuln_id, purl, matching))
    return out


# -- the runtime side -------------------------------------------------------------------------


@dataclass(slots=True)
class _Seen:
    hits: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, hits: int, first: datetime, last: datetime) -> None:
        self.hits += hits
        self.first = first if self.first is None or first < self.first else self.first
        self.last = last if self.last is None or last > self.last else self.last


@dataclass(slots=True)
class _Observed:
    """Runtime sightings of one symbol id or purl, per ingest."""

    per_ingest: dict[int, _Seen]

    def saw(self, ingest: int, fact: FactLike) -> None:
        seen = self.per_ingest.get(ingest)
        if seen is None:
            seen = self.per_ingest[ingest] = _Seen()
        seen.add(fact.hits, fact.first_seen, fact.last_seen)

    def evidence(self, ingests: Sequence[IngestEvidence]) -> tuple[RuntimeEvidence, set[str]]:
        total = _Seen()
        digests: set[str] = set()
        ids: set[str] = set()
        for i, seen in self.per_ingest.items():
            if seen.first is not None and seen.last is not None:
                total.add(seen.hits, seen.first, seen.last)
            digests.add(ingests[i].receipt_digest)
            ids.add(ingests[i].ingest_id)
        evidence = RuntimeEvidence(
            hits=total.hits, first_seen=total.first, last_seen=total.last,
            ingest_ids=tuple(sorted(ids)),
        )  # fmt: skip
        return evidence, digests


def _in_window(when: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or when >= since) and (until is None or when <= until)


# -- the evaluation ---------------------------------------------------------------------------


def evaluate(
    catalog: Catalog,
    graph: GraphIndex | None,
    ingests: Sequence[IngestEvidence],
    *,
    since: datetime | None,
    until: datetime | None,
    computed_at: datetime,
) -> Evaluation:
    """Every target of ``catalog`` in ``graph`` (None: no graph, every entry ``U``) judged on
    the ingests received within [since, until] (either end open when None). Pure."""
    window = sorted(
        (i for i in ingests if _in_window(i.received_at, since, until)),
        key=lambda i: (i.ingest_id, i.receipt_digest),
    )
    graph_hash = graph.graph_hash if graph is not None else ""
    walker = _Graph(graph) if graph is not None else None
    advisories = _advisories(catalog, graph)
    # An open start is reported as where the evidence begins: the earliest probe window (or,
    # for an ingest without a manifest, its receipt time), so that a verdict names a window.
    if since is None:
        since = min(
            (i.manifest.window_start if i.manifest else i.received_at for i in window),
            default=None,
        )

    # Which symbol ids and purls matter, then one pass over the facts.
    wanted_symbols: dict[str, _Observed] = {}
    wanted_purls: dict[str, _Observed] = {}
    for adv in advisories:
        for symbol in adv.symbols:
            if symbol:
                wanted_symbols.setdefault(target_symbol_id(adv.package, symbol), _Observed({}))
            else:
                wanted_purls.setdefault(adv.package, _Observed({}))
    unmapped: dict[tuple[str, str], set[str]] = {}
    by_symbol_get, by_purl_get = wanted_symbols.get, wanted_purls.get
    for number, ingest in enumerate(window):
        for fact in ingest.facts:
            observed = by_symbol_get(fact.symbol_id)
            if observed is not None and fact.hits > 0:
                observed.saw(number, fact)
            if wanted_purls:
                observed = by_purl_get(fact.purl)
                if observed is not None and fact.hits > 0:
                    observed.saw(number, fact)
            if fact.node is None and graph is not None:
                unmapped.setdefault((fact.symbol_id, fact.purl), set()).add(ingest.ingest_id)

    manifests = [(i.receipt_digest, _watched(i.manifest)) for i in window if i.manifest]
    verdicts: list[Verdict] = []
    unknowns: list[Unknown] = []
    for adv in advisories:
        for symbol in adv.symbols:
            verdict, unknown = _judge(
                adv, symbol, walker, wanted_symbols, wanted_purls, manifests, window,
                graph_hash=graph_hash, since=since, until=until, computed_at=computed_at,
            )  # fmt: skip
            verdicts.append(verdict)
            unknowns.extend(unknown)
    for (sym, purl), ids in unmapped.items():
        unknowns.append(Unknown(
            kind="unmapped_symbol", graph_hash=graph_hash, symbol=sym, purl=purl,
            detail="a runtime symbol the graph has no node for", ingest_ids=tuple(sorted(ids)),
        ))  # fmt: skip
    if walker is not None:
        unknowns.extend(_unexpected_edges(walker, window, graph_hash))
    verdicts.sort(key=lambda v: v.key)
    unknowns.sort(key=lambda u: (u.kind, u.symbol, u.vuln_id or "", u.purl or "", u.detail))
    return Evaluation(
        graph_hash=graph_hash,
        catalog_digest=catalog.digest,
        window_start=since,
        window_end=until,
        computed_at=computed_at,
        verdicts=tuple(verdicts),
        unknowns=tuple(unknowns),
        evidence_digests=tuple(sorted({i.receipt_digest for i in window})),
        manifest_digests=tuple(sorted({i.manifest_digest for i in window if i.manifest_digest})),
    )


def _judge(
    adv: _Advisory,
    symbol: str,
    walker: _Graph | None,
    by_symbol: Mapping[str, _Observed],
    by_purl: Mapping[str, _Observed],
    manifests: Sequence[tuple[str, frozenset[str] | None]],
    window: Sequence[IngestEvidence],
    *,
    graph_hash: str,
    since: datetime | None,
    until: datetime | None,
    computed_at: datetime,
) -> tuple[Verdict, list[Unknown]]:
    unknowns: list[Unknown] = []
    path: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    evidence = RuntimeEvidence()
    digests: set[str] = set()
    if walker is None:
        state = State.U
    else:
        static, found = _static(adv, symbol, walker)
        if static is Static.REACHABLE and found is not None:
            path = walker.path(found)
        if static is Static.UNKNOWN:
            unknowns.append(Unknown(
                kind="target_not_scanned", graph_hash=graph_hash, symbol=symbol,
                vuln_id=adv.vuln_id, purl=adv.package,
                detail=f"{symbol} of {adv.package} is in no scanned code",
            ))  # fmt: skip
        runtime = Runtime.UNKNOWN
        if symbol:
            sid = target_symbol_id(adv.package, symbol)
            observed = by_symbol.get(sid)
        else:
            observed = by_purl.get(adv.package)
        if observed is not None and observed.per_ingest:
            runtime = Runtime.OBSERVED
            evidence, digests = observed.evidence(window)
        elif symbol and manifests:
            sid = target_symbol_id(adv.package, symbol)
            if all(w is not None and (symbol in w or sid in w) for _, w in manifests):
                runtime = Runtime.NOT_OBSERVED
                digests = {digest for digest, _ in manifests}
        state = combine(static, runtime)
        if state is State.X:
            unknowns.append(Unknown(
                kind="disagreement", graph_hash=graph_hash, symbol=symbol,
                vuln_id=adv.vuln_id, purl=adv.package,
                detail="observed at run time but no static path reaches it: the graph "
                "misses an edge",
                ingest_ids=evidence.ingest_ids,
            ))  # fmt: skip
    verdict = Verdict(
        vuln_id=adv.vuln_id,
        package=adv.package,
        symbol=symbol,
        state=state,
        confidence=CONFIDENCE[state],
        graph_hash=graph_hash,
        window_start=since,
        window_end=until,
        computed_at=computed_at,
        path=path[0],
        path_display=path[1],
        runtime=evidence,
        evidence_digests=tuple(sorted(digests)),
        aliases=adv.aliases,
        fixed=adv.fixed,
    )
    return verdict, unknowns


def _static(adv: _Advisory, symbol: str, walker: _Graph) -> tuple[Static, int | None]:
    """What the graph says of one target, and the node a path leads to (when reachable)."""
    index = walker.index
    if symbol:
        node = index.by_symbol.get(target_symbol_id(adv.package, symbol))
        if node is None:
            return Static.UNKNOWN, None
        parent, _ = walker.bfs()
        return (Static.REACHABLE, node) if parent[node] != -2 else (Static.UNREACHABLE, None)
    best = walker.first_reached().get(adv.package)
    return (Static.REACHABLE, best) if best is not None else (Static.UNREACHABLE, None)


def _unexpected_edges(
    walker: _Graph, window: Sequence[IngestEvidence], graph_hash: str
) -> list[Unknown]:
    by_symbol = walker.index.by_symbol
    found: dict[tuple[str, str], set[str]] = {}
    for ingest in window:
        for edge in ingest.edges:
            a, b = by_symbol.get(edge.caller_symbol_id), by_symbol.get(edge.symbol_id)
            if a is None or b is None or not walker.has_edge(a, b):
                found.setdefault((edge.caller_symbol_id, edge.symbol_id), set()).add(
                    ingest.ingest_id
                )
    return [
        Unknown(
            kind="unexpected_edge",
            graph_hash=graph_hash,
            symbol=callee,
            detail=f"{caller} -> {callee}: seen at run time, no graph edge joins them",
            ingest_ids=tuple(sorted(ids)),
        )
        for (caller, callee), ids in found.items()
    ]
