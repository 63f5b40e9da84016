"""richgraph-v1 static graphs (SPEC §3): parsed once, validated with JSON pointers.

The parsed document is kept whole (unknown fields included) in its input-normalised form:
``sourceId``/``targetId`` renamed to ``from``/``to``. Nothing else is changed here; the
canonical form is `stella_signals.graph.canonical_graph`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from stella_signals.errors import InvalidDocument, LimitExceeded
from stella_signals.strictjson import DuplicateKeyError, has_raw_surrogate, loads_strict
from stella_signals.trace import purl_problem
from stella_signals.wire import MAX_SAFE_INTEGER, Problem, ProblemSink, json_pointer

__all__ = [
    "GRAPH_SCHEMA",
    "ROOT_PHASES",
    "GraphProblem",
    "InvalidGraph",
    "RichGraph",
    "check_graph",
    "parse_graph",
]

GRAPH_SCHEMA = "richgraph-v1"
ROOT_PHASES = frozenset({"load", "init", "runtime"})
MAX_PROBLEMS = 100
DEFAULT_MAX_GRAPH_BYTES = 4 * 1024**3

_NODE_REQUIRED = ("id", "symbol_id", "lang", "kind")
_NODE_STRINGS = ("display", "purl", "code_id", "build_id", "symbol_digest")
_EDGE_STRINGS = ("kind", "purl")
_ALIASES = {"sourceId": "from", "targetId": "to"}
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class GraphProblem(Problem):
    """One problem: where (RFC 6901 JSON pointer), what (reason code), why."""

    __slots__ = ()
    ROOT: ClassVar[str] = "/"


class InvalidGraph(InvalidDocument):
    """A richgraph-v1 document is invalid; ``problems`` lists the first 100."""

    problems: tuple[GraphProblem, ...]


@dataclass(frozen=True, slots=True)
class RichGraph:
    """A valid richgraph-v1 document (aliases normalised, unknown fields kept; string arrays
    already sorted and integral doubles written as ints, which changes no JSON value).

    `canonical_graph` sorts its arrays in place: read what you need (``claimed_hash``)
    before canonicalising."""

    document: Mapping[str, Any]
    #: True when msgspec's sorted encoding is provably its RFC 8785 encoding.
    fast_encodable: bool = False

    @property
    def nodes(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = self.document["nodes"]
        return nodes

    @property
    def edges(self) -> list[dict[str, Any]]:
        edges: list[dict[str, Any]] = self.document["edges"]
        return edges

    @property
    def roots(self) -> list[dict[str, Any]]:
        roots: list[dict[str, Any]] = self.document.get("roots", [])
        return roots

    @property
    def claimed_hash(self) -> str | None:
        """A top-level ``graph_hash`` the document carries about itself (not hashed)."""
        claimed = self.document.get("graph_hash")
        return claimed if isinstance(claimed, str) else None


class _Checker(ProblemSink[GraphProblem]):
    def __init__(self) -> None:
        super().__init__(GraphProblem, MAX_PROBLEMS)

    def string(
        self, obj: Mapping[str, Any], key: str, where: tuple[str | int, ...], *, required: bool
    ) -> str | None:
        if key not in obj:
            if required:
                self.add(json_pointer(*where, key), "missing_field", f"{key} is required")
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.add(json_pointer(*where, key), "wrong_type", f"{key} must be a string")
            return None
        if required and not value:
            self.add(json_pointer(*where, key), "empty_field", f"{key} must not be empty")
            return None
        return value

    def array(
        self, obj: Mapping[str, Any], key: str, where: tuple[str | int, ...], *, required: bool
    ) -> list[Any]:
        if key not in obj:
            if required:
                self.add(json_pointer(*where, key), "missing_field", f"{key} is required")
            return []
        value = obj[key]
        if not isinstance(value, list):
            self.add(json_pointer(*where, key), "wrong_type", f"{key} must be an array")
            return []
        return value

    def values(self, value: Any, where: tuple[str | int, ...]) -> None:
        """Anywhere in the document: integers RFC 8785 cannot represent exactly, and strings
        with unpaired surrogates (no UTF-8 form), are refused."""
        stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, where)]
        while stack:
            item, path = stack.pop()
            if isinstance(item, dict):
                stack.extend((v, (*path, k)) for k, v in item.items())
                for key in item:
                    if not key.isascii() and not _encodable(key):
                        self.add(
                            json_pointer(*path, key),
                            "invalid_string",
                            "unpaired surrogate in a member name",
                        )
            elif isinstance(item, list):
                stack.extend((v, (*path, i)) for i, v in enumerate(item))
            elif isinstance(item, str) and not item.isascii() and not _encodable(item):
                self.add(json_pointer(*path), "invalid_string", "unpaired surrogate in a string")
            elif (isinstance(item, int) and not isinstance(item, bool)) or (
                isinstance(item, float) and item.is_integer()
            ):
                if abs(item) > MAX_SAFE_INTEGER:
                    self.add(
                        json_pointer(*path),
                        "number_out_of_range",
                        "integers beyond ±(2^53-1) have no exact canonical form",
                    )


def _check_node(c: _Checker, node: Any, i: int, ids: dict[str, int]) -> None:
    where: tuple[str | int, ...] = ("nodes", i)
    if not isinstance(node, dict):
        c.add(json_pointer(*where), "not_an_object", "a node must be an object")
        return
    for key in _NODE_REQUIRED:
        c.string(node, key, where, required=True)
    for key in _NODE_STRINGS:
        c.string(node, key, where, required=False)
    node_id = node.get("id")
    if isinstance(node_id, str) and node_id:
        if node_id in ids:
            c.add(
                json_pointer(*where, "id"),
                "duplicate_node_id",
                f"node id {node_id!r} already used by /nodes/{ids[node_id]}",
            )
        else:
            ids[node_id] = i
    symbol_id = node.get("symbol_id")
    if isinstance(symbol_id, str) and len(symbol_id.encode("utf-8", "surrogatepass")) > 1024:
        c.add(json_pointer(*where, "symbol_id"), "invalid_symbol_id", "symbol_id over 1024 bytes")
    _check_purl(c, node, where)
    c.array(node, "evidence", where, required=False)
    if "attributes" in node and not isinstance(node["attributes"], dict):
        c.add(json_pointer(*where, "attributes"), "wrong_type", "attributes must be an object")


def _check_purl(c: _Checker, obj: Mapping[str, Any], where: tuple[str | int, ...]) -> None:
    purl = obj.get("purl")
    if isinstance(purl, str):
        problem = purl_problem(purl)
        if problem is not None:
            c.add(json_pointer(*where, "purl"), "invalid_purl", problem)


def _normalise_edge(c: _Checker, edge: dict[str, Any], where: tuple[str | int, ...]) -> None:
    for alias, name in _ALIASES.items():
        if alias in edge:
            if name in edge:
                c.add(
                    json_pointer(*where, alias),
                    "conflicting_alias",
                    f"{alias} and {name} are the same field; give one",
                )
                continue
            edge[name] = edge.pop(alias)


def _check_edge(c: _Checker, edge: Any, i: int, ids: Mapping[str, int]) -> None:
    where: tuple[str | int, ...] = ("edges", i)
    if not isinstance(edge, dict):
        c.add(json_pointer(*where), "not_an_object", "an edge must be an object")
        return
    _normalise_edge(c, edge, where)
    for key in ("from", "to"):
        endpoint = c.string(edge, key, where, required=True)
        if endpoint is not None and endpoint not in ids:
            c.add(json_pointer(*where, key), "unknown_node", f"no node has id {endpoint!r}")
    for key in _EDGE_STRINGS:
        c.string(edge, key, where, required=False)
    _check_purl(c, edge, where)
    if "confidence" in edge:
        value = edge["confidence"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            c.add(json_pointer(*where, "confidence"), "wrong_type", "confidence must be a number")
        elif not 0 <= value <= 1:
            c.add(
                json_pointer(*where, "confidence"),
                "confidence_out_of_range",
                f"confidence must be within 0..1, got {value}",
            )
    c.array(edge, "evidence", where, required=False)


def _check_root(c: _Checker, root: Any, i: int, ids: Mapping[str, int]) -> None:
    where: tuple[str | int, ...] = ("roots", i)
    if not isinstance(root, dict):
        c.add(json_pointer(*where), "not_an_object", "a root must be an object")
        return
    root_id = c.string(root, "id", where, required=True)
    if root_id is not None and root_id not in ids:
        c.add(json_pointer(*where, "id"), "unknown_node", f"no node has id {root_id!r}")
    phase = c.string(root, "phase", where, required=True)
    if phase is not None and phase not in ROOT_PHASES:
        c.add(
            json_pointer(*where, "phase"),
            "unknown_phase",
            f"phase must be one of load, init, runtime; got {phase!r}",
        )
    c.string(root, "source", where, required=False)


class _Node(msgspec.Struct):
    id: _NonEmpty
    symbol_id: _NonEmpty
    lang: _NonEmpty
    kind: _NonEmpty
    display: str | msgspec.UnsetType = msgspec.UNSET
    purl: str | msgspec.UnsetType = msgspec.UNSET
    code_id: str | msgspec.UnsetType = msgspec.UNSET
    build_id: str | msgspec.UnsetType = msgspec.UNSET
    symbol_digest: str | msgspec.UnsetType = msgspec.UNSET
    evidence: list[Any] | msgspec.UnsetType = msgspec.UNSET
    attributes: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class _Edge(msgspec.Struct, rename={"source": "from", "target": "to"}):
    source: _NonEmpty
    target: _NonEmpty
    kind: str | msgspec.UnsetType = msgspec.UNSET
    purl: str | msgspec.UnsetType = msgspec.UNSET
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] | msgspec.UnsetType = msgspec.UNSET
    evidence: list[Any] | msgspec.UnsetType = msgspec.UNSET


class _Root(msgspec.Struct):
    id: _NonEmpty
    phase: Literal["load", "init", "runtime"]
    source: str | msgspec.UnsetType = msgspec.UNSET


class _Top(msgspec.Struct):
    schema: Literal["richgraph-v1"]
    nodes: list[Any]
    edges: list[Any]
    roots: list[Any] | msgspec.UnsetType = msgspec.UNSET
    analyzer: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


#: Objects converted per call: bounds the transient typed copies of a huge graph.
_CHUNK = 65_536


_id_of = itemgetter("id")
_from_of = itemgetter("from")
_to_of = itemgetter("to")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surely_valid(doc: dict[str, Any], data: bytes) -> bool:
    """The fast check: typed conversion plus set arithmetic, no Python loop per object.

    True means the detailed checker would find nothing; False means "ask it".
    """
    if b"\\u" in data or has_raw_surrogate(data):
        # Escapes may hide unpaired surrogates, and the decoder lets the raw UTF-8 bytes of one
        # (ED A0-BF ..) through inside objects: the detailed walk checks strings and keys.
        return False
    try:
        msgspec.convert(doc, _Top, strict=True)
        purls: set[object] = set()
        longest = 0
        for part in _chunks(doc["nodes"]):
            nodes = msgspec.convert(part, list[_Node], strict=True)
            purls.update(n.purl for n in nodes)
            longest = max(longest, max(len(n.symbol_id) for n in nodes))
            if longest > 256 and any(len(n.symbol_id.encode()) > 1024 for n in nodes):
                return False
        for part in _chunks(doc["edges"]):
            purls.update(e.purl for e in msgspec.convert(part, list[_Edge], strict=True))
        for part in _chunks(doc.get("roots", [])):
            msgspec.convert(part, list[_Root], strict=True)
    except (msgspec.ValidationError, UnicodeError):
        # UnicodeError: a key written as the raw UTF-8 bytes of a surrogate, which the decoder
        # lets through and conversion cannot encode; the detailed walk names it.
        return False
    node_ids = list(map(_id_of, doc["nodes"]))
    known = set(node_ids)
    if len(known) != len(node_ids):
        return False
    edges = doc["edges"]
    if not known.issuperset(map(_from_of, edges)) or not known.issuperset(map(_to_of, edges)):
        return False
    if not known.issuperset(map(_id_of, doc.get("roots", []))):
        return False
    if any(purl_problem(purl) for purl in purls if isinstance(purl, str)):
        return False
    return True


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class _BigInteger(Exception):
    """An integer RFC 8785 cannot represent: the detailed checker will say where."""


#: UTF-8 lead bytes of characters at or above U+E000, where code-point key order (msgspec)
#: and UTF-16 key order (RFC 8785) can differ.
_HIGH_CHARS = re.compile(rb"[\xee-\xf4]")


def _float_in_place(parent: Any, slot: Any, value: float) -> bool:
    """Write an integral double as an int (RFC 8785 prints 5.0 as 5); False when msgspec's
    output for this number could differ from RFC 8785's."""
    if value.is_integer():
        if abs(value) > MAX_SAFE_INTEGER:
            raise _BigInteger  # its canonical form is an integer no parser reads back exactly
        parent[slot] = int(value)
        return True
    return 1e-5 <= abs(value) < 1e16  # msgspec writes exponents below 1e-5


def _prepare(doc: dict[str, Any], data: bytes) -> tuple[bool, int]:
    """One walk over a valid document, in place: sort every all-strings array, turn integral
    doubles into ints (the same JSON number), refuse unsafe integers (`_BigInteger`).

    Returns whether msgspec's sorted encoding is provably the RFC 8785 encoding of it, and
    how many quotes its keys and strings account for (2 each): on input without escapes,
    a surplus in the bytes means a duplicate key that a lenient parser collapsed.
    """
    fast = b"\\u" not in data and _HIGH_CHARS.search(data) is None
    numbers_fast, quotes = prepare_values(doc)
    return fast and numbers_fast, quotes


def prepare_values(container: dict[str, Any] | list[Any]) -> tuple[bool, int]:
    """`_prepare`'s walk over one container, in place, without the whole-input checks:
    (whether every number inside prints the same in msgspec and RFC 8785, quotes counted).
    Raises `_BigInteger`. The compact import path (`_compact`) calls it per value."""
    fast = True
    quotes = 0
    stack: list[Any] = [container]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        children: Iterable[tuple[Any, Any]]
        if type(item) is dict:
            quotes += 2 * len(item)
            children = item.items()
        elif item and all(type(element) is str for element in item):
            quotes += 2 * len(item)
            item.sort()
            continue
        else:
            children = enumerate(item)
        for slot, child in children:  # (key, value) of an object, (index, element) of an array
            kind = type(child)
            if kind is str:
                quotes += 2
            elif kind is dict or kind is list:
                push(child)
            elif kind is float:
                fast = _float_in_place(item, slot, child) and fast
            elif kind is int and not -MAX_SAFE_INTEGER <= child <= MAX_SAFE_INTEGER:
                raise _BigInteger
    return fast, quotes


def _normalise_aliases(doc: dict[str, Any], data: bytes) -> bool:
    """Rename ``sourceId``/``targetId``; False when an edge gives both forms of a field."""
    if b'"sourceId"' not in data and b'"targetId"' not in data:
        return True
    edges = doc.get("edges")
    if not isinstance(edges, list):
        return True
    clean = True
    for edge in edges:
        if not isinstance(edge, dict):
            continue
        for alias, name in _ALIASES.items():
            if alias in edge:
                if name in edge:
                    clean = False
                else:
                    edge[name] = edge.pop(alias)
    return clean


def _quick_graph(data: bytes) -> RichGraph | None:
    """The common case, fast: no escapes in the bytes, msgspec's parser (it keeps the last of
    duplicate keys silently, so the quote count proves there were none), the typed check.
    None means "take the strict path", which names whatever is wrong."""
    try:
        doc = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec raises the latter for bad UTF-8
        return None
    if not isinstance(doc, dict) or not _normalise_aliases(doc, data):
        return None
    if not _surely_valid(doc, data):
        return None
    try:
        fast, quotes = _prepare(doc, data)
    except _BigInteger:
        return None
    if quotes != data.count(b'"'):
        return None  # a duplicate key somewhere
    return RichGraph(doc, fast)


def check_size(data: bytes, max_bytes: int) -> None:
    """`LimitExceeded` when a graph document is over ``max_bytes``."""
    if len(data) > max_bytes:
        raise LimitExceeded(
            f"graph document is larger than {max_bytes} bytes", limit="max_graph_bytes"
        )


def check_graph(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_GRAPH_BYTES, _fast: bool = True
) -> tuple[RichGraph | None, tuple[GraphProblem, ...]]:
    """The non-raising face: (graph or None, problems). ``_fast=False`` skips the typed
    fast check (tests compare the two)."""
    check_size(data, max_bytes)
    if _fast and b"\\" not in data:
        quick = _quick_graph(data)
        if quick is not None:
            return quick, ()
    c = _Checker()
    try:
        doc = loads_strict(data)
    except DuplicateKeyError as exc:
        return None, (GraphProblem("", "duplicate_key", str(exc)),)
    except ValueError as exc:
        return None, (GraphProblem("", "invalid_json", f"not valid JSON: {exc}"),)
    if not isinstance(doc, dict):
        return None, (GraphProblem("", "not_an_object", "a graph must be a JSON object"),)
    if _normalise_aliases(doc, data) and _fast and _surely_valid(doc, data):
        try:
            return RichGraph(doc, _prepare(doc, data)[0]), ()
        except _BigInteger:
            pass  # the detailed checker names it
    schema = c.string(doc, "schema", (), required=True)
    if schema is not None and schema != GRAPH_SCHEMA:
        c.add("/schema", "wrong_schema", f"schema must be {GRAPH_SCHEMA!r}, got {schema!r}")
    if "analyzer" in doc and not isinstance(doc["analyzer"], dict):
        c.add("/analyzer", "wrong_type", "analyzer must be an object")
    nodes = c.array(doc, "nodes", (), required=True)
    edges = c.array(doc, "edges", (), required=True)
    roots = c.array(doc, "roots", (), required=False)
    ids: dict[str, int] = {}
    for i, node in enumerate(nodes):
        _check_node(c, node, i, ids)
    for i, edge in enumerate(edges):
        _check_edge(c, edge, i, ids)
    for i, root in enumerate(roots):
        _check_root(c, root, i, ids)
    c.values(doc, ())
    if c.problems:
        return None, tuple(c.problems)
    return RichGraph(doc, _prepare(doc, data)[0]), ()


def parse_graph(data: bytes, *, max_bytes: int = DEFAULT_MAX_GRAPH_BYTES) -> RichGraph:
    """Bytes → `RichGraph`, or `InvalidGraph` listing every problem (first 100)."""
    graph, problems = check_graph(data, max_bytes=max_bytes)
    if graph is None:
        first = problems[0] if problems else None
        raise InvalidGraph(
            f"invalid richgraph-v1 document ({len(problems)} problem(s)); first: {first}",
            problems=problems,
        )
    return graph
