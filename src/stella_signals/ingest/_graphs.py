"""Graph catalog: import richgraph-v1 documents into the CAS and keep their indexes.

A graph is validated, canonicalised and hashed before anything is written: an invalid graph
is never stored or indexed. The canonical bytes go to ``cas://reachability/graphs/<hex>``;
the index is derived data kept in an `IndexCache` (rebuilt from the CAS whenever it is
missing, stale or unreadable), so verifying against a large graph never re-parses it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stella_signals.cas import CasUri, Namespace
from stella_signals.digests import Algorithm, Digest, parse_digest
from stella_signals.errors import InvalidDigest, NotFound
from stella_signals.graph import CanonicalGraph, GraphIndex, load_canonical
from stella_signals.ports import BlobStore, IndexCache, StagedBlob
from stella_signals.tenancy import TenantId

__all__ = ["GraphCatalog", "ImportedGraph", "LoadedGraph", "parse_graph_hash"]


def parse_graph_hash(text: str) -> Digest:
    """``blake3:<hex>`` or bare hex (SPEC §1); anything else is `InvalidDigest`."""
    try:
        digest = parse_digest(text, default=Algorithm.BLAKE3)
    except InvalidDigest as exc:
        raise InvalidDigest(f"malformed graph hash {text!r}: {exc}") from None
    if digest.algorithm is not Algorithm.BLAKE3:
        raise InvalidDigest(f"a graph hash is blake3:<64 hex>, got {text!r}")
    return digest


@dataclass(frozen=True, slots=True)
class ImportedGraph:
    graph_hash: Digest
    uri: CasUri
    size: int
    created: bool
    index: GraphIndex


@dataclass(frozen=True, slots=True)
class LoadedGraph:
    graph_hash: Digest
    index: GraphIndex


class GraphCatalog:
    """Graphs of every tenant, over a `BlobStore` and an `IndexCache`."""

    #: Indexes kept in memory (most recently used), for ingests against the same graphs.
    MEMORY_SLOTS = 8
    #: (tenant, graph) pairs remembered as registered; past this many the memory restarts.
    REGISTERED_SLOTS = 65_536

    def __init__(self, blobs: BlobStore, indexes: IndexCache) -> None:
        self._blobs = blobs
        self._indexes = indexes
        self._memory: OrderedDict[tuple[str, str], GraphIndex] = OrderedDict()
        self._registered: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def registered(self, tenant: TenantId, graph_hash: Digest, lookup: Callable[[], bool]) -> bool:
        """Whether ``tenant`` has registered the graph, asking ``lookup`` (the metadata
        store) until it says yes. A yes is remembered: a graph is never deleted and its
        hash names its bytes, so "registered" cannot turn false; a no is asked again
        every time (the graph may arrive at any moment)."""
        key = (str(tenant), graph_hash.hex)
        with self._lock:
            if key in self._registered:
                return True
        if not lookup():
            return False
        with self._lock:
            if len(self._registered) >= self.REGISTERED_SLOTS:
                self._registered.clear()
            self._registered.add(key)
        return True

    def import_graph(self, tenant: TenantId, data: bytes) -> ImportedGraph:
        """Validate, hash, store and index; `InvalidGraph` (nothing written) when invalid."""
        return self.store(tenant, load_canonical(data))

    def store(self, tenant: TenantId, canonical: CanonicalGraph) -> ImportedGraph:
        """Store and index a graph already validated and canonicalised."""
        with self.stage(tenant, canonical) as staged:
            return self.commit(tenant, canonical, staged)

    def stage(self, tenant: TenantId, canonical: CanonicalGraph) -> StagedBlob:
        """Write the canonical bytes, hashing them as they go, not yet visible: the staged
        blob's ``uri.digest`` is the graph hash (no separate pass makes it)."""
        known = canonical.known_hash
        return self._blobs.stage(
            tenant,
            Namespace.GRAPHS,
            canonical.chunks(),
            expected_hex=None if known is None else known.hex,
        )

    def commit(
        self, tenant: TenantId, canonical: CanonicalGraph, staged: StagedBlob
    ) -> ImportedGraph:
        """Publish a graph `stage` wrote, and index it."""
        graph_hash = staged.uri.digest
        stored = staged.publish()
        index = canonical.index(graph_hash)
        self._save_index(tenant, index)
        return ImportedGraph(graph_hash, stored.uri, stored.size, stored.created, index)

    def exists(self, tenant: TenantId, graph_hash: Digest) -> bool:
        return self._blobs.exists(tenant, CasUri(Namespace.GRAPHS, graph_hash))

    def load(self, tenant: TenantId, graph_hash: Digest, *, rehash: bool = True) -> LoadedGraph:
        """The graph's index (`NotFound` if this tenant has no such graph).

        ``rehash=True`` (what `stella graph verify` does) re-hashes the stored bytes first
        (`HashMismatch` if altered); ingests use ``rehash=False`` and an index kept in memory:
        the bytes were verified when the graph was imported and the index first built.
        """
        key = (str(tenant), graph_hash.hex)
        if not rehash:
            with self._lock:
                if key in self._memory:
                    self._memory.move_to_end(key)
                    return LoadedGraph(graph_hash, self._memory[key])
        loaded = self._load(tenant, graph_hash)
        with self._lock:
            self._memory[key] = loaded.index
            while len(self._memory) > self.MEMORY_SLOTS:
                self._memory.popitem(last=False)
        return loaded

    def _load(self, tenant: TenantId, graph_hash: Digest) -> LoadedGraph:
        uri = CasUri(Namespace.GRAPHS, graph_hash)
        if not self._blobs.exists(tenant, uri):
            raise NotFound(f"tenant {tenant} has no graph {graph_hash}")
        cached = self._cached_index(tenant, graph_hash)
        if cached is not None:
            for _chunk in self._blobs.open(tenant, uri):
                pass  # re-hash the stored bytes: open() verifies the digest as it streams
            return LoadedGraph(graph_hash, cached)
        data = b"".join(self._blobs.open(tenant, uri))
        index = load_canonical(data).index(graph_hash)
        self._save_index(tenant, index)
        return LoadedGraph(graph_hash, index)

    def _cached_index(self, tenant: TenantId, graph_hash: Digest) -> GraphIndex | None:
        data = self._indexes.get(tenant, graph_hash.hex)
        return None if data is None else GraphIndex.from_bytes(data, graph_hash=str(graph_hash))

    def _save_index(self, tenant: TenantId, index: GraphIndex) -> None:
        self._indexes.put(tenant, parse_graph_hash(index.graph_hash).hex, index.to_bytes())
