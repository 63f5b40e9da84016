"""The import path for large graphs: typed, chunked decoding into compact columns.

`canonical_graph(parse_graph(data))` holds the whole document as Python dicts (about nine
times the input for a graph of millions of edges). `compact_graph` gives the same canonical
bytes, hash and index from a fraction of that:

- the top level is decoded with every value left as raw JSON text (`msgspec.Raw`, which
  points into the input); ``nodes``, ``edges`` and ``roots`` are decoded in pieces of about
  4 MiB into typed structs (the rules of `_model`'s fast check) and each piece is folded into
  columns at once: per node its id, symbol_id, purl, display, code_id and canonical text; per
  edge two node numbers and one "attribute set" number (kind, purl, confidence and evidence
  interned together) in `array('I')`;
- node ids are numbered in canonical (sorted) order, so the edges sort as integers;
- the canonical bytes are made in chunks on demand (`CompactGraph.chunks`), never whole.

The edges, nine in ten of a large graph's bytes, are read by the compiled core when it is built
(`_cgraph.c`, ADR 0011): endpoints found by their bytes in a table of the node ids, attribute
sets interned by their raw bytes, without the GIL; Python then decodes each distinct set once
with the same typed decoder. What that scan cannot read exactly gives None there, and the edges
go through the typed pieces below instead (`STELLA_PURE_PYTHON=1` forces that path; the tests
hold both equal).

It takes only input where equality with the general path is cheap to prove: no backslash in
the bytes (so every string is its own canonical text and every ``"`` delimits a string) and no
``sourceId``/``targetId`` aliases. Whatever it cannot prove -- a type error, a duplicate key or
an unknown field (both show as ``"`` not accounted for), an unknown endpoint, a duplicate id,
a bad purl, an integer beyond 2^53 -- gives None, and the caller takes the general path, which
names every problem exactly as before.
"""

from __future__ import annotations

import re
import secrets
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from itertools import chain, compress, count, islice, repeat
from operator import add, and_, attrgetter, eq, gt, lshift, xor
from types import ModuleType
from typing import Annotated, Any, Literal, Protocol

import msgspec

from stella_signals.canonical import canonical_json
from stella_signals.digests import Digest
from stella_signals.graph._index import GraphIndex
from stella_signals.graph._model import (
    _HIGH_CHARS,
    _BigInteger,
    _NonEmpty,
    _Root,
    prepare_values,
)
from stella_signals.trace import purl_problem

_compiled_core: ModuleType | None
try:
    from stella_signals.graph import _cgraph as _compiled_core
except ImportError:  # not built (no compiler at install): the pure-Python path serves
    _compiled_core = None

__all__ = ["CompactGraph", "compact_graph", "graph_core"]

_UNSET = msgspec.UNSET
_Unset = msgspec.UnsetType
#: Bytes of array text decoded per typed call (bounds the transient structs).
PIECE_BYTES = 4 << 20
#: Items per typed call when an array had to be split item by item (`_decoded`).
_PIECE_ITEMS = 32_768
#: Nodes or edges per chunk of canonical text.
_OUT_ITEMS = 32_768
#: Edges per chunk of canonical text made by the compiled core (each call reads every id).
_OUT_EDGES_COMPILED = 1 << 18
_BOUNDARY = re.compile(rb"\}\s*,\s*\{")
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


class _PieceDecoder(Protocol):
    def decode(self, piece: bytes, /) -> list[Any]: ...


class _NotFast(Exception):
    """This input needs the general path (which says what, if anything, is wrong)."""


class _StrNode(msgspec.Struct, gc=False):
    id: _NonEmpty
    symbol_id: _NonEmpty
    lang: _NonEmpty
    kind: _NonEmpty
    display: str | _Unset = _UNSET
    purl: str | _Unset = _UNSET
    code_id: str | _Unset = _UNSET
    build_id: str | _Unset = _UNSET
    symbol_digest: str | _Unset = _UNSET
    evidence: list[str] | _Unset = _UNSET
    attributes: dict[str, Any] | _Unset = _UNSET


class _AnyNode(_StrNode, gc=False):
    """`_StrNode` with evidence of any items (tried when a piece's evidence is not all text)."""

    evidence: list[Any] | _Unset = _UNSET


class _Edge(msgspec.Struct, gc=False, rename={"source": "from", "target": "to"}):
    source: _NonEmpty
    target: _NonEmpty
    kind: str | _Unset = _UNSET
    purl: str | _Unset = _UNSET
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] | _Unset = _UNSET
    evidence: list[Any] | _Unset = _UNSET


_top_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_items = msgspec.json.Decoder(list[msgspec.Raw])
_schema_decoder = msgspec.json.Decoder(Literal["richgraph-v1"])
_analyzer_decoder = msgspec.json.Decoder(dict[str, Any])
_any_decoder = msgspec.json.Decoder()
_str_nodes = msgspec.json.Decoder(list[_StrNode])
_any_nodes = msgspec.json.Decoder(list[_AnyNode])
_edges = msgspec.json.Decoder(list[_Edge])
_roots = msgspec.json.Decoder(list[_Root])


class _NodeDecoder:
    """Nodes typed as `_StrNode`, else (evidence that is not all text) as `_AnyNode`."""

    def decode(self, piece: bytes) -> list[_StrNode] | list[_AnyNode]:
        try:
            return _str_nodes.decode(piece)
        except msgspec.ValidationError:
            return _any_nodes.decode(piece)


def _pieces(raw: msgspec.Raw) -> Iterator[bytes]:
    """The JSON array ``raw`` as smaller arrays of its items, cut at ``},{`` after about
    `PIECE_BYTES`. A cut inside a string or a nested value leaves a piece that is not JSON
    (an unclosed string or ``{``), so a piece that decodes was cut between items."""
    view = memoryview(raw)
    end = len(view) - 1
    if end < 1 or view[0] != 0x5B or view[end] != 0x5D:
        raise _NotFast  # not an array: the general path says so
    start = 1
    while start + PIECE_BYTES < end:
        match = _BOUNDARY.search(view, start + PIECE_BYTES, end)
        if match is None:
            break
        yield b"".join((b"[", view[start : match.start() + 1], b"]"))
        start = match.end() - 1
    yield b"".join((b"[", view[start:end], b"]"))


def _decoded(raw: msgspec.Raw, decoder: _PieceDecoder) -> Iterator[list[Any]]:
    """The items of the array ``raw``, typed by ``decoder``, a piece at a time. When a piece
    does not decode (a cut that fell inside an item, or an invalid item), the rest is split
    item by item instead; `msgspec.DecodeError` if that fails too."""
    done = 0
    try:
        for piece in _pieces(raw):
            items: list[Any] = decoder.decode(piece)
            done += len(items)
            yield items
        return
    except msgspec.DecodeError:
        pass
    raws = _raw_items.decode(raw)
    for start in range(done, len(raws), _PIECE_ITEMS):
        part = raws[start : start + _PIECE_ITEMS]
        yield decoder.decode(b"".join((b"[", b",".join(part), b"]")))


def _absent(values: list[Any]) -> int:
    return values.count(_UNSET)


#: An edge's attribute set: kind, purl, confidence (each possibly UNSET), and its evidence
#: member's text when any edge of its piece has evidence.
_Attributes = tuple[Any, ...]


class _Pool(dict[_Attributes, int]):
    """Distinct attribute sets numbered in order of first sight."""

    def __missing__(self, key: _Attributes) -> int:
        number = self[key] = len(self)
        return number


def _number_text(value: float) -> str:
    """RFC 8785's text of a number (ECMAScript's shortest form)."""
    if value.is_integer():
        return str(int(value))
    if 1e-5 <= abs(value) < 1e16:
        return _encode_sorted(value).decode()
    return canonical_json(value).decode()


def _optional_texts(values: list[str | None], name: str, *, before_id: bool) -> Iterable[str]:
    """Each value as its ``"name":"value"`` member, "" where absent (None); the comma goes after
    (members sorting before the required ``id``) or before (those after)."""
    if values.count(None) == len(values):
        return repeat("")
    head, tail = _affixes(name, before_id=before_id)
    return ["" if value is None else head + value + tail for value in values]


def _optional_column(
    values: list[str | None], name: str, *, before_id: bool
) -> tuple[str, list[str | None], str]:
    """`_optional_texts` as a column of `_cgraph.join_rows`."""
    head, tail = _affixes(name, before_id=before_id)
    return head, values, tail


def _affixes(name: str, *, before_id: bool) -> tuple[str, str]:
    """The text before and after an optional member's value (`_optional_texts`)."""
    return (f'"{name}":"', '",') if before_id else (f',"{name}":"', '"')


_ID = attrgetter("id")
_LANG = attrgetter("lang")
#: Optional string members of a node, None where absent in the columns.
_OPTIONAL = {name: attrgetter(name) for name in ("build_id", "code_id", "display", "symbol_digest")}
_SYMBOL = attrgetter("symbol_id")
_KIND = attrgetter("kind")
_PURL = attrgetter("purl")
_EVIDENCE = attrgetter("evidence")
_ATTRIBUTES = attrgetter("attributes")
_EDGE_ATTRIBUTES = attrgetter("kind", "purl", "confidence")
_FROM = attrgetter("source")
_TO = attrgetter("target")
#: The members of an attribute set as `_cgraph.scan_edges` gives them.
_SET_MEMBERS = (b"kind", b"purl", b"confidence", b"evidence")


class _Builder:
    """Folds decoded pieces into columns, counting the quotes they account for."""

    def __init__(self) -> None:
        self.quotes = 0
        self.ids: list[str] = []
        self.symbols: list[str] = []
        self.purls: list[str | None] = []
        self.langs: list[str] = []
        self.kinds: list[str] = []
        #: display, code_id, build_id, symbol_digest: None where absent.
        self.optional: dict[str, list[str | None]] = {name: [] for name in _OPTIONAL}
        #: each node's ``"evidence":[...],`` and ``"attributes":{...},`` members, or "".
        self.evidence: list[str] = []
        self.attributes: list[str] = []
        self._pool: dict[str, str] = {}
        self._evidence: dict[tuple[str, ...], str] = {}
        self.edge_from = array("I")
        self.edge_to = array("I")
        self.edge_attrs = array("I")
        self.attrs = _Pool()
        #: edges per attribute set, when the compiled scan counted them.
        self.edge_uses: Counter[int] | None = None
        self.rank: dict[str, int] = {}

    def generic(self, value: Any) -> str:
        """The canonical text of any JSON value, prepared like the general path does."""
        holder = [value]
        try:
            fast, quotes = prepare_values(holder)
        except _BigInteger:
            raise _NotFast from None
        self.quotes += quotes
        if fast:
            data = _encode_sorted(holder[0])
            if _HIGH_CHARS.search(data) is None:  # key order is code-point order here
                return data.decode()
        return canonical_json(holder[0]).decode()

    def _interned(self, values: Iterable[str]) -> list[str]:
        pool = self._pool
        return [pool.setdefault(value, value) for value in values]

    def _evidence_text(self, values: list[str]) -> str:
        key = tuple(values)
        text = self._evidence.get(key)
        if text is None:
            text = '"evidence":[' + ",".join(f'"{v}"' for v in sorted(values)) + "],"
            self._evidence[key] = text
        return text

    def add_nodes(self, nodes: list[_StrNode] | list[_AnyNode]) -> None:
        n = len(nodes)
        purls = list(map(_PURL, nodes))
        columns = {name: list(map(get, nodes)) for name, get in _OPTIONAL.items()}
        evidence = list(map(_EVIDENCE, nodes))
        attributes = list(map(_ATTRIBUTES, nodes))
        quotes = 16 * n + 2 * (n - _absent(evidence)) + 2 * (n - _absent(attributes))
        for column in (purls, *columns.values()):
            quotes += 4 * (n - _absent(column))
        self.quotes += quotes
        if _absent(attributes) == n:
            self.attributes.extend(repeat("", n))
        else:
            self.attributes.extend(
                "" if a is _UNSET else '"attributes":' + self.generic(a) + "," for a in attributes
            )
        if _absent(evidence) == n:
            self.evidence.extend(repeat("", n))
        elif type(nodes[0]) is _StrNode:
            self.quotes += sum(2 * len(e) for e in evidence if e is not _UNSET)
            self.evidence.extend("" if e is _UNSET else self._evidence_text(e) for e in evidence)
        else:
            self.evidence.extend(
                "" if e is _UNSET else '"evidence":' + self.generic(e) + "," for e in evidence
            )
        pool = self._pool
        self.ids.extend(map(_ID, nodes))
        self.symbols.extend(map(_SYMBOL, nodes))
        self.langs.extend(self._interned(map(_LANG, nodes)))
        self.kinds.extend(self._interned(map(_KIND, nodes)))
        self.purls.extend(None if p is _UNSET else pool.setdefault(p, p) for p in purls)
        for name, values in columns.items():
            if _absent(values) == n:
                self.optional[name].extend(repeat(None, n))
            else:
                self.optional[name].extend(None if v is _UNSET else v for v in values)

    def number_nodes(self) -> list[int]:
        """Sort the nodes by id; the order (input positions) in canonical order."""
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        for name in ("ids", "symbols", "purls", "langs", "kinds", "evidence", "attributes"):
            column = getattr(self, name)
            setattr(self, name, list(map(column.__getitem__, order)))
        for name, column in self.optional.items():
            self.optional[name] = list(map(column.__getitem__, order))
        if any(map(eq, self.ids, islice(self.ids, 1, None))):
            raise _NotFast  # a duplicate node id (sorted: next to its twin)
        if max(map(len, self.symbols), default=0) > 256 and any(
            len(s) > 256 and len(s.encode()) > 1024 for s in self.symbols
        ):
            raise _NotFast  # a symbol_id over 1024 bytes
        return order

    def number_of(self, node_id: str) -> int:
        """The number of the node ``node_id`` (KeyError: no such node)."""
        at = bisect_left(self.ids, node_id)
        if at == len(self.ids) or self.ids[at] != node_id:
            raise KeyError(node_id)
        return at

    def add_edges(self, edges: list[_Edge]) -> None:
        n = len(edges)
        if not self.rank:  # made for the first piece: the compiled scan needs none
            self.rank = dict(zip(self.ids, range(len(self.ids)), strict=True))
        rank = self.rank.__getitem__
        try:
            # array(list) copies machine words; array.extend(iterator) goes item by item.
            self.edge_from.extend(array("I", list(map(rank, map(_FROM, edges)))))
            self.edge_to.extend(array("I", list(map(rank, map(_TO, edges)))))
        except KeyError:
            raise _NotFast from None  # an unknown endpoint
        evidence = list(map(_EVIDENCE, edges))
        if _absent(evidence) == n:
            keys: Iterable[_Attributes] = map(_EDGE_ATTRIBUTES, edges)
        else:
            self.quotes += 2 * (n - _absent(evidence))
            texts = ["" if e is _UNSET else '"evidence":' + self.generic(e) + "," for e in evidence]
            keys = map(add, map(_EDGE_ATTRIBUTES, edges), zip(texts))
        # Each edge's attribute set: interned tuples, one number per edge. The quotes of its
        # members are counted per set (`edge_quotes`), not per edge.
        self.edge_attrs.extend(array("I", list(map(self.attrs.__getitem__, keys))))

    def add_compiled_edges(self, core: ModuleType, raw: msgspec.Raw) -> bool:
        """The edges by the compiled scan (`_cgraph.scan_edges`); False, having added nothing,
        when it cannot read them exactly (`add_edges` then takes them piece by piece)."""
        scanned = core.scan_edges(self.ids, raw, secrets.randbits(64))
        if scanned is None:
            return False
        edge_from, edge_to, edge_attrs, sets, uses = scanned
        numbers: list[int] = []
        self.edge_uses = Counter()
        for members, used in zip(sets, uses, strict=True):
            # Each distinct set decoded once, by the same typed decoder as `add_edges`.
            text = b",".join(
                b'"' + name + b'":' + value
                for name, value in zip(_SET_MEMBERS, members, strict=True)
                if value is not None
            )
            (edge,) = _edges.decode(b'[{"from":"-","to":"-"' + b"," * bool(text) + text + b"}]")
            key: _Attributes = _EDGE_ATTRIBUTES(edge)
            if edge.evidence is not _UNSET:
                before = self.quotes
                key += ('"evidence":' + self.generic(edge.evidence) + ",",)
                self.quotes += (self.quotes - before) * (used - 1) + 2 * used
            number = self.attrs[key]
            numbers.append(number)
            self.edge_uses[number] += used
        self.edge_from.frombytes(edge_from)
        self.edge_to.frombytes(edge_to)
        attrs = array("I")
        attrs.frombytes(edge_attrs)
        if numbers != list(range(len(numbers))):  # sets whose raw bytes differ, values not
            attrs = array("I", list(map(numbers.__getitem__, attrs)))
        self.edge_attrs.extend(attrs)
        return True

    def edge_quotes(self) -> int:
        """Quotes of every edge's ``from``/``to`` and of the members its attribute set holds."""
        per_set = [
            4 * (kind is not _UNSET) + 4 * (purl is not _UNSET) + 2 * (confidence is not _UNSET)
            for kind, purl, confidence, *_ in self.attrs
        ]
        uses = Counter(self.edge_attrs) if self.edge_uses is None else self.edge_uses
        return 8 * len(self.edge_attrs) + sum(per_set[a] * used for a, used in uses.items())


def _edge_order(builder: _Builder, kind_rank: list[int], core: ModuleType | None) -> array[int]:
    """Edge positions in canonical order: by (from, to, kind or "") as node numbers and kind
    ranks, packed into one integer with the position (in C: a stable radix sort by the same
    keys); ties by the edges' canonical text."""
    if core is not None:
        packed, ties = core.edge_order(
            builder.edge_from, builder.edge_to, builder.edge_attrs, array("I", kind_rank)
        )
        order = array("I")
        order.frombytes(packed)
        del packed
        if ties:
            _break_ties(builder, order, ties)
        return order
    edges = len(builder.edge_from)
    position_bits = max(edges.bit_length(), 1)
    node_bits = max(len(builder.ids).bit_length(), 1)
    kind_bits = max(len(kind_rank) - 1, 0).bit_length()
    to_shift = kind_bits + position_bits
    from_shift = node_bits + to_shift
    packed = map(
        add,
        map(lshift, builder.edge_from, repeat(from_shift)),
        map(lshift, builder.edge_to, repeat(to_shift)),
    )
    if kind_bits:
        ranks = map(kind_rank.__getitem__, builder.edge_attrs)
        packed = map(add, packed, map(lshift, ranks, repeat(position_bits)))
    keys = list(map(add, packed, range(edges)))
    keys.sort()
    position_mask = (1 << position_bits) - 1
    # keys[i - 1] and keys[i] tie when they differ only in the position bits.
    ties = list(
        compress(
            count(1), map(gt, repeat(1 << position_bits), map(xor, islice(keys, 1, None), keys))
        )
    )
    order = array("I", list(map(and_, keys, repeat(position_mask))))
    del keys
    if ties:
        _break_ties(builder, order, ties)
    return order


def _break_ties(builder: _Builder, order: array[int], ties: list[int]) -> None:
    """Order each run of tied edges by canonical text (the general path's rule)."""
    runs: list[tuple[int, int]] = []
    for i in ties:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i - 1, i + 1))
    pre, mid = _attribute_texts(builder)
    ids = builder.ids
    for start, end in runs:
        run = list(order[start:end])
        run.sort(
            key=lambda e: _edge_text(
                pre[builder.edge_attrs[e]],
                ids[builder.edge_from[e]],
                mid[builder.edge_attrs[e]],
                ids[builder.edge_to[e]],
            ).encode()
        )
        order[start:end] = array("I", run)


def _permuted(values: array[int], order: array[int], core: ModuleType | None) -> array[int]:
    if core is None:
        return array("I", list(map(values.__getitem__, order)))
    permuted = array("I")
    permuted.frombytes(core.permuted(values, order))
    return permuted


def _edge_text(pre: str, source: str, mid: str, target: str) -> str:
    return pre + source + mid + target + '"}'


def _attribute_texts(builder: _Builder) -> tuple[list[str], list[str]]:
    """Per attribute set, the edge text before the ``from`` id and between the ids."""
    pre: list[str] = []
    mid: list[str] = []
    for kind, purl, confidence, *rest in builder.attrs:  # in number order
        evidence = rest[0] if rest else ""
        head = "" if confidence is _UNSET else f'"confidence":{_number_text(confidence)},'
        pre.append("{" + head + evidence + '"from":"')
        kind_text = "" if kind is _UNSET else f',"kind":"{kind}"'
        purl_text = "" if purl is _UNSET else f',"purl":"{purl}"'
        mid.append('"' + kind_text + purl_text + ',"to":"')
    return pre, mid


class CompactGraph:
    """A valid graph in canonical order, in columns; its canonical text made on demand."""

    def __init__(
        self,
        builder: _Builder,
        members: list[tuple[str, str | None]],
        roots: list[tuple[int, str]] | None,
        claimed_hash: str | None,
    ) -> None:
        self.node_ids = builder.ids
        self.node_symbols = builder.symbols
        self.node_purls = builder.purls
        self.node_displays = builder.optional["display"]
        self.node_codes = builder.optional["code_id"]
        self._builds = builder.optional["build_id"]
        self._digests = builder.optional["symbol_digest"]
        self._langs, self._kinds = builder.langs, builder.kinds
        self._evidence, self._attributes = builder.evidence, builder.attributes
        self._purl_texts: dict[str | None, str] = {None: ""}
        for purl in builder.purls:
            if purl not in self._purl_texts:
                self._purl_texts[purl] = f',"purl":"{purl}"'
        self._pre, self._mid = _attribute_texts(builder)
        self._core = core = _core()
        order = _edge_order(builder, _kind_ranks(builder), core)
        self.edge_from = _permuted(builder.edge_from, order, core)
        self.edge_to = _permuted(builder.edge_to, order, core)
        self._edge_attrs = _permuted(builder.edge_attrs, order, core)
        #: top-level members in canonical order; None stands for nodes, edges or roots.
        self._members = members
        self._roots = roots or []
        self.claimed_hash = claimed_hash

    @property
    def nodes_total(self) -> int:
        return len(self.node_ids)

    @property
    def edges_total(self) -> int:
        return len(self.edge_from)

    def chunks(self) -> Iterator[bytes]:
        """The canonical (RFC 8785) bytes, in chunks of a few MiB."""
        pending: list[str] = ["{"]
        for number, (key, text) in enumerate(self._members):
            pending.append(("," if number else "") + f'"{key}":')
            if text is not None:
                pending.append(text)
                continue
            pending.append("[")
            yield "".join(pending).encode()
            pending = []
            yield from self._array(key)
            pending.append("]")
        pending.append("}")
        yield "".join(pending).encode()

    def _array(self, key: str) -> Iterator[bytes]:
        if key == "nodes" and self._core is not None:
            columns = self._node_columns()
            for start in range(0, len(self.node_ids), _OUT_ITEMS):
                stop = min(start + _OUT_ITEMS, len(self.node_ids))
                data = self._core.join_rows(columns, start, stop)
                yield data if start else data[1:]
        elif key == "nodes":
            for start in range(0, len(self.node_ids), _OUT_ITEMS):
                text = "".join(chain.from_iterable(self._node_parts(start, start + _OUT_ITEMS)))
                yield (text if start else text[1:]).encode()
        elif key == "edges" and self._core is not None:
            for start in range(0, len(self.edge_from), _OUT_EDGES_COMPILED):
                stop = min(start + _OUT_EDGES_COMPILED, len(self.edge_from))
                yield self._core.edge_text(self.node_ids, self._pre, self._mid, self.edge_from,
                                           self.edge_to, self._edge_attrs, start, stop)  # fmt: skip
        elif key == "edges":
            ids = self.node_ids.__getitem__
            pre, mid = self._pre.__getitem__, self._mid.__getitem__
            for start in range(0, len(self.edge_from), _OUT_ITEMS):
                stop = start + _OUT_ITEMS
                attrs = self._edge_attrs[start:stop]
                parts = zip(
                    repeat(","),
                    map(pre, attrs),
                    map(ids, self.edge_from[start:stop]),
                    map(mid, attrs),
                    map(ids, self.edge_to[start:stop]),
                    repeat('"}'),
                )
                text = "".join(chain.from_iterable(parts))  # one join, no call per edge
                yield (text if start else text[1:]).encode()
        else:
            yield ",".join(text for _, text in self._roots).encode()

    def _node_columns(self) -> list[Any]:
        """The columns of `_node_parts` for `_cgraph.join_rows`: whole lists, constants, and
        (head, values, tail) for the optional members (nothing where a value is None)."""
        return [
            ",{",
            self._attributes,
            _optional_column(self._builds, "build_id", before_id=True),
            _optional_column(self.node_codes, "code_id", before_id=True),
            _optional_column(self.node_displays, "display", before_id=True),
            self._evidence,
            '"id":"',
            self.node_ids,
            '","kind":"',
            self._kinds,
            '","lang":"',
            self._langs,
            '"',
            (',"purl":"', self.node_purls, '"'),
            _optional_column(self._digests, "symbol_digest", before_id=False),
            ',"symbol_id":"',
            self.node_symbols,
            '"}',
        ]

    def _node_parts(self, start: int, stop: int) -> Iterator[tuple[str, ...]]:
        """The nodes from ``start`` to ``stop``, each a ``,``-led tuple of text parts (members
        in RFC 8785 order: the optional ones before ``id``, then the rest)."""
        return zip(
            repeat(",{"),
            self._attributes[start:stop],
            _optional_texts(self._builds[start:stop], "build_id", before_id=True),
            _optional_texts(self.node_codes[start:stop], "code_id", before_id=True),
            _optional_texts(self.node_displays[start:stop], "display", before_id=True),
            self._evidence[start:stop],
            repeat('"id":"'),
            self.node_ids[start:stop],
            repeat('","kind":"'),
            self._kinds[start:stop],
            repeat('","lang":"'),
            self._langs[start:stop],
            repeat('"'),
            map(self._purl_texts.__getitem__, self.node_purls[start:stop]),
            _optional_texts(self._digests[start:stop], "symbol_digest", before_id=False),
            repeat(',"symbol_id":"'),
            self.node_symbols[start:stop],
            repeat('"}'),
        )

    def index(self, graph_hash: Digest) -> GraphIndex:
        """The same index `build_index` makes of the canonical document."""
        n = len(self.node_ids)
        by_symbol: dict[str, int] = {}
        deque(map(by_symbol.setdefault, self.node_symbols, range(n)), maxlen=0)
        by_code: dict[str, int] = {}
        codes: list[Any] = self.node_codes  # None where absent
        deque(map(by_code.setdefault, compress(codes, codes), compress(range(n), codes)), maxlen=0)
        deque(map(by_symbol.setdefault, self.node_ids, range(n)), maxlen=0)
        return GraphIndex(
            graph_hash=str(graph_hash),
            node_ids=self.node_ids,
            node_symbols=self.node_symbols,
            node_purls=self.node_purls,
            by_symbol=by_symbol,
            by_code=by_code,
            edge_from=self.edge_from,
            edge_to=self.edge_to,
            roots=array("I", (number for number, _ in self._roots)),
            node_displays=[d or i for d, i in zip(self.node_displays, self.node_ids, strict=True)],
        )


def _kind_ranks(builder: _Builder) -> list[int]:
    """Per attribute set, the rank of its kind ("" when absent) among the graph's kinds."""
    kinds = ["" if key[0] is _UNSET else key[0] for key in builder.attrs]
    rank = {kind: i for i, kind in enumerate(sorted(set(kinds)))}
    return [rank[kind] for kind in kinds]


def _root_text(root: _Root) -> str:
    source = "" if root.source is _UNSET else f',"source":"{root.source}"'
    return f'{{"id":"{root.id}","phase":"{root.phase}"{source}}}'


def _read_roots(builder: _Builder, raw: msgspec.Raw) -> list[tuple[int, str]]:
    """(node number, canonical text) per root, sorted by (id, phase), ties by text."""
    roots: list[tuple[int, str, str]] = []
    for part in _decoded(raw, _roots):
        builder.quotes += sum(8 if r.source is _UNSET else 12 for r in part)
        try:
            roots.extend((builder.number_of(r.id), r.phase, _root_text(r)) for r in part)
        except KeyError:
            raise _NotFast from None  # a root that is no node
    roots.sort(key=lambda r: (r[0], r[1], r[2].encode()))
    return [(number, text) for number, _, text in roots]


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _build(data: bytes) -> CompactGraph:
    top = _top_decoder.decode(data)
    builder = _Builder()
    builder.quotes = 2 * len(top)
    if "schema" not in top or "nodes" not in top or "edges" not in top:
        raise _NotFast
    _schema_decoder.decode(top["schema"])
    builder.quotes += 2
    for piece in _decoded(top["nodes"], _NodeDecoder()):
        builder.add_nodes(piece)
    builder.number_nodes()
    core = _core()
    if core is None or not builder.add_compiled_edges(core, top["edges"]):
        for edges in _decoded(top["edges"], _edges):
            builder.add_edges(edges)
    roots = _read_roots(builder, top["roots"]) if "roots" in top else None
    members: list[tuple[str, str | None]] = []
    claimed: str | None = None
    for key in sorted(top, key=_utf16):
        if key in ("nodes", "edges", "roots"):
            members.append((key, None))
        elif key == "schema":
            members.append((key, '"richgraph-v1"'))
        else:
            if key == "analyzer":
                value = _analyzer_decoder.decode(top[key])
            else:
                value = _any_decoder.decode(top[key])
            text = builder.generic(value)
            if key == "graph_hash":
                claimed = value if isinstance(value, str) else None
            else:
                members.append((key, text))
    builder.quotes += builder.edge_quotes()
    builder.rank = {}  # not needed past here: its memory goes to the edge sort
    if builder.quotes != data.count(b'"'):
        raise _NotFast  # a duplicate key or a field no struct above declares
    purls = set(builder.purls) | {key[1] for key in builder.attrs}
    purls.discard(None)
    purls.discard(_UNSET)
    for purl in purls:
        if purl_problem(purl) is not None:
            raise _NotFast
    return CompactGraph(builder, members, roots, claimed)


def graph_core() -> Literal["compiled", "python"]:
    """Which reads a compact graph's edges: ``"compiled"`` (`_cgraph.c`, ADR 0011) or
    ``"python"`` (the extension was not built, or ``STELLA_PURE_PYTHON`` is set to anything
    but ``0``)."""
    return "python" if _core() is None else "compiled"


def _core() -> ModuleType | None:
    core = _compiled_core
    if core is None or core.pure_python_forced():
        return None
    return core


def compact_graph(data: bytes) -> CompactGraph | None:
    """The graph in compact form, or None: take the general path (`parse_graph`)."""
    if b"\\" in data or b'"sourceId"' in data or b'"targetId"' in data:
        return None
    try:
        return _build(data)
    except (_NotFast, msgspec.DecodeError, UnicodeDecodeError):
        return None
