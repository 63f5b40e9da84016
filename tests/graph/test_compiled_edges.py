"""The compiled edge scan (`_cgraph.scan_edges`, ADR 0011) against the pure-Python path it
replaces: on generated graphs valid and spoilt, both give the same compact graph (bytes, hash,
index) or the same refusal (problems with their pointers, reasons and messages; the size
limit), and the scan reads exactly what it claims to, refusing (None) everything else."""

from __future__ import annotations

import json
import random
import secrets
from array import array
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stella_signals.errors import LimitExceeded
from stella_signals.graph import InvalidGraph, _compact, load_canonical
from stella_signals.graph._compact import _compiled_core, compact_graph, graph_core
from tests._examples import examples
from tests.graph._graphs import BASE, as_bytes
from tests.graph.test_compact import graphs
from tests.graph.test_fast_validation_agrees import mutated

pytestmark = pytest.mark.skipif(
    _compiled_core is None, reason="the compiled graph core is not built (no C compiler)"
)


def _on(path: str, run: Callable[[], Any]) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STELLA_PURE_PYTHON", "0" if path == "compiled" else "1")
        assert graph_core() == path
        return run()


def _outcome(data: bytes, max_bytes: int | None = None) -> Any:
    """What `load_canonical` makes of ``data``: bytes, hash, index and whether the compact
    path took it; or the refusal (exception type, problems or message)."""
    try:
        if max_bytes is None:
            canonical = load_canonical(data)
        else:
            canonical = load_canonical(data, max_bytes=max_bytes)
        compact = compact_graph(data) is not None
        return compact, canonical.data, str(canonical.hash), canonical.index().to_bytes()
    except InvalidGraph as exc:
        return "invalid", [(p.pointer, p.reason, p.message) for p in exc.problems]
    except LimitExceeded as exc:
        return "limit", str(exc)


def _both(data: bytes, max_bytes: int | None = None) -> Any:
    compiled = _on("compiled", lambda: _outcome(data, max_bytes))
    python = _on("python", lambda: _outcome(data, max_bytes))
    assert compiled == python
    return compiled


def _scan(ids: list[str], edges: bytes) -> Any:
    assert _compiled_core is not None
    return _compiled_core.scan_edges(ids, edges, secrets.randbits(64))


def _edge_bytes(doc: dict[str, Any]) -> Iterator[bytes]:
    for text in (json.dumps(doc["edges"], ensure_ascii=False),
                 json.dumps(doc["edges"], ensure_ascii=False, indent=1)):  # fmt: skip
        yield text.encode()


@settings(max_examples=examples(300), deadline=None)
@given(graphs())
def test_both_paths_agree_and_the_scan_reads_every_generated_edge_list(doc: dict[str, Any]) -> None:
    for data in (json.dumps(doc, ensure_ascii=False).encode(),
                 json.dumps(doc, ensure_ascii=False, indent=1).encode()):  # fmt: skip
        _both(data)
    ids = sorted({node["id"] for node in doc["nodes"]})
    rank = {node_id: number for number, node_id in enumerate(ids)}
    for edges in _edge_bytes(doc):
        scanned = _scan(ids, edges)
        assert scanned is not None  # nothing here it may not read
        edge_from, edge_to, attrs, sets, uses = scanned
        assert list(memoryview(edge_from).cast("I")) == [rank[e["from"]] for e in doc["edges"]]
        assert list(memoryview(edge_to).cast("I")) == [rank[e["to"]] for e in doc["edges"]]
        numbers = list(memoryview(attrs).cast("I"))
        assert sum(uses) == len(doc["edges"])
        assert [numbers.count(n) for n in range(len(sets))] == uses
        for edge, number in zip(doc["edges"], numbers, strict=True):
            kind, purl, confidence, evidence = sets[number]
            assert (kind and json.loads(kind)) == edge.get("kind", None)
            assert (purl and json.loads(purl)) == edge.get("purl", None)
            assert (confidence and json.loads(confidence)) == edge.get("confidence", None)
            assert (evidence and json.loads(evidence)) == edge.get("evidence", None)


@settings(max_examples=examples(300), deadline=None)
@given(mutated())
def test_both_paths_refuse_spoilt_graphs_alike(data: bytes) -> None:
    _both(data)


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """A valid graph whose edges text has a few bytes replaced, inserted or cut."""
    data = bytearray(as_bytes(BASE))
    start = data.index(b'"edges"')
    stop = data.index(b'"roots"')
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(start, stop))
        cut = draw(st.integers(0, 3))
        data[at : at + cut] = draw(st.binary(max_size=3) | st.sampled_from(
            [b"", b",", b"{", b"}", b"[", b"]", b'"', b" ", b":", b"\\", b"\xff", b"1e9", b"n1",
             b'"kind":"x",', b'"x-extra":1,', b'"from":"n2",', b"\n"]))  # fmt: skip
    return bytes(data)


@settings(max_examples=examples(400), deadline=None)
@given(spliced())
@example(as_bytes(BASE).replace(b'"to": "n3"', b'"to": "n9"'))  # unknown endpoint
@example(as_bytes(BASE).replace(b'"n2", "symbol_id"', b'"n1", "symbol_id"'))  # duplicate id
@example(as_bytes(BASE).replace(b'"confidence": 0.5', b'"confidence": 1.5'))  # out of range
@example(as_bytes(BASE).replace(b'"confidence": 0.5', b'"confidence": 5e-1'))  # same value
def test_both_paths_agree_on_damaged_edges_text(data: bytes) -> None:
    _both(data)


def test_the_size_limit_refuses_alike() -> None:
    data = as_bytes(BASE)
    assert _both(data, max_bytes=len(data) - 1)[0] == "limit"
    assert _both(data, max_bytes=len(data))[0] is True


@pytest.mark.parametrize(
    ("edges", "why"),
    [
        (b'[{"from":"a","to":"z"}]', "unknown endpoint"),
        (b'[{"from":"a","to":""}]', "empty endpoint"),
        (b'[{"from":"a"}]', "no to"),
        (b'[{"from":"a","to":"b","from":"b"}]', "duplicate key"),
        (b'[{"from":"a","to":"b","x":1}]', "unknown member"),
        (b'[{"from":"a","to":"b","kind":1}]', "kind not a string"),
        (b'[{"from":"a","to":"b","confidence":"1"}]', "confidence not a number token"),
        (b'[{"from":"a","to":"b","evidence":{}}]', "evidence not an array"),
        (b'[{"from":"a","to":"b","evidence":[1}]', "mismatched brackets"),
        (b'[{"from":"a","to":"b","evidence":' + b"[" * 65 + b"]" * 65 + b"}]", "too deep"),
        (b'[{"from":"a","to":"b"},]', "trailing comma"),
        (b'[{"from":"a","to":"b"}{"from":"a","to":"b"}]', "missing comma"),
        (b'[{"from":"a","to":"b"}] x', "trailing bytes"),
        (b'[{"from":"a","to":"b"}', "unclosed array"),
        (b'[{"from":"a","to":"b"', "unclosed object"),
        (b'[{"from":"a","to":"b","kind":"x\\"y"}]', "escape"),
        (b'[{"from" "a","to":"b"}]', "no colon"),
        (b'{"from":"a","to":"b"}', "not an array"),
        (b"", "nothing"),
        (b'["a"]', "not an object"),
    ],
)
def test_the_scan_refuses_what_it_cannot_read_exactly(edges: bytes, why: str) -> None:
    assert _scan(["a", "b", "é"], edges) is None, why


def test_the_scan_reads_what_it_may() -> None:
    ids = ["a", "b", "é"]
    edges = (
        b' [ {"to" :"\xc3\xa9", "from":"a"} ,\n{"from":"b","to":"a","kind":"call","purl":"p",'
        b'"confidence":0.5,"evidence":[{"k":"]"},[[]]]}, {"from":"a","to":"\xc3\xa9"}]\t'
    )
    edge_from, edge_to, attrs, sets, uses = _scan(ids, edges)
    assert list(memoryview(edge_from).cast("I")) == [0, 1, 0]
    assert list(memoryview(edge_to).cast("I")) == [2, 0, 2]
    assert list(memoryview(attrs).cast("I")) == [0, 1, 0]
    assert sets == [
        (None, None, None, None),
        (b'"call"', b'"p"', b"0.5", b'[{"k":"]"},[[]]]'),
    ]
    assert uses == [2, 1]
    assert _scan(ids, b"[ ]") == (b"", b"", b"", [], [])


def test_sets_equal_in_value_but_not_in_bytes_become_one() -> None:
    doc = json.loads(as_bytes(BASE))
    doc["edges"][1]["confidence"] = 0.9
    same = b"9e-1".join(as_bytes(doc).rsplit(b"0.9", 1))  # the second edge's
    assert same.count(b"9e-1") == 1
    compiled = _both(same)
    assert compiled[0] is True
    assert _on("compiled", lambda: compact_graph(same)) is not None


def test_the_compiled_path_is_the_one_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a scan that always declines: with the extension's scan broken, the compiled path's
    result changes (and the pure path's does not)."""
    assert _compiled_core is not None
    good = _on("compiled", lambda: _outcome(as_bytes(BASE)))
    real = _compiled_core.scan_edges

    def swapped(ids: list[str], edges: Any, seed: int) -> Any:
        edge_from, edge_to, *rest = real(ids, edges, seed)
        return (edge_to, edge_from, *rest)

    broken = SimpleNamespace(**vars(_compiled_core))
    broken.scan_edges = swapped
    monkeypatch.setattr(_compact, "_compiled_core", broken)
    assert _on("compiled", lambda: _outcome(as_bytes(BASE))) != good
    assert _on("python", lambda: _outcome(as_bytes(BASE))) == good


@settings(max_examples=examples(100), deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 1, 65_535, 65_536, 70_000, 2**32 - 1]),
                  st.sampled_from([0, 2, 65_536, 2**31]), st.integers(0, 3)),
        max_size=40,
    ),
    st.lists(st.sampled_from([0, 1, 2, 70_000]), min_size=4, max_size=4),
)  # fmt: skip
def test_the_compiled_edge_order_is_a_stable_sort_by_from_to_and_kind(
    edges: list[tuple[int, int, int]], kind_rank: list[int]
) -> None:
    """Numbers past one 16-bit radix digit, repeated keys: the order of `sorted` by (from, to,
    kind rank), positions breaking ties, and every tie reported."""
    assert _compiled_core is not None
    columns = [array("I", column) for column in zip(*edges, strict=True)] or [array("I")] * 3
    packed, ties = _compiled_core.edge_order(*columns, array("I", kind_rank))
    key = [(f, t, kind_rank[a]) for f, t, a in edges]
    expected = sorted(range(len(edges)), key=key.__getitem__)
    assert list(memoryview(packed).cast("I")) == expected
    assert ties == [i for i in range(1, len(expected)) if key[expected[i - 1]] == key[expected[i]]]
    order = array("I", expected)
    assert list(memoryview(_compiled_core.permuted(columns[0], order)).cast("I")) == [
        edges[i][0] for i in expected
    ]


def test_the_compiled_helpers_refuse_numbers_past_their_tables() -> None:
    assert _compiled_core is not None
    one, two = array("I", [1]), array("I", [0, 1])
    with pytest.raises(ValueError, match="kind rank"):
        _compiled_core.edge_order(one, one, one, array("I", [0]))
    with pytest.raises(ValueError, match="32-bit"):
        _compiled_core.edge_order(one, two, one, array("I", [0, 0]))
    with pytest.raises(ValueError, match="past the values"):
        _compiled_core.permuted(one, array("I", [1]))
    with pytest.raises(ValueError, match="past its table"):
        _compiled_core.edge_text(["a"], ["{"], ['"'], one, one, array("I", [0]), 0, 1)
    with pytest.raises(ValueError, match="range"):
        _compiled_core.edge_text(["a"], ["{"], ['"'], one, one, array("I", [0]), 0, 2)
    assert _compiled_core.edge_text(["a", "b"], ["{<", "{"], [">", "|"], two, two[::-1],
                                    two, 0, 2) == b'{<a>b"},{b|a"}'  # fmt: skip


def test_join_rows_writes_each_rows_parts_and_refuses_short_columns() -> None:
    assert _compiled_core is not None
    columns: list[Any] = [",{", ["a", "é"], ('"x":"', [None, "v"], '",'), "}"]
    assert _compiled_core.join_rows(columns, 0, 2) == ',{a},{é"x":"v",}'.encode()
    assert _compiled_core.join_rows(columns, 1, 1) == b""
    with pytest.raises(ValueError, match="shorter"):
        _compiled_core.join_rows(columns, 0, 3)
    with pytest.raises(TypeError, match="tuple column"):
        _compiled_core.join_rows([("a", ["b"])], 0, 1)
    with pytest.raises(TypeError, match="not str"):
        _compiled_core.join_rows([[1]], 0, 1)


# The first hash of `_cgraph.c` (until session 7): the seed went into its starting state only.
_M = (1 << 64) - 1
_C1, _C2 = 0x87C37B91114253D5, 0x4CF5AD432745937F


def _old_hash(data: bytes, seed: int) -> int:
    def rotl(x: int) -> int:
        return ((x << 31) | (x >> 33)) & _M

    n, h = len(data), (seed ^ (len(data) * 0x9E3779B97F4A7C15)) & _M
    words = [data[i : i + 8] for i in range(0, n - n % 8, 8)] + [data[n - n % 8 :]]
    for word in words:
        h = rotl(h ^ (int.from_bytes(word.ljust(8, b"\0"), "little") * _C1 & _M)) * _C2 & _M
    for shift, factor in ((33, 0xFF51AFD7ED558CCD), (33, 0xC4CEB9FE1A85EC53), (33, 1)):
        h ^= h >> shift
        h = h * factor & _M
    return h


def _old_collisions(k: int) -> list[bytes]:
    """2^k kind texts (quoted) on which `_old_hash` agrees for every seed: per 16-byte block,
    bit 32 of word 1 times C1 flipped (rotated to bit 63 of the state) and bit 63 of word 2
    flipped to undo it (the construction of the review of session 7)."""
    rng, inverse = random.Random(1), pow(_C1, -1, 1 << 64)
    blocks = []
    while len(blocks) < k:
        first = bytes(rng.randrange(0x23, 0x7F) for _ in range(8))
        flipped = ((int.from_bytes(first, "little") * _C1 & _M) ^ (1 << 32)) * inverse & _M
        other = flipped.to_bytes(8, "little")
        if b"\\" in first or any(c < 0x20 or c in b'"\\' for c in other):
            continue
        second = bytes(rng.randrange(0x23, 0x5B) for _ in range(7)) + b"A"
        blocks.append((first + second, other + second[:7] + b"\xc1"))
    texts = [b""]
    for one, two in blocks:
        texts = [t + one for t in texts] + [t + two for t in texts]
    return [b'"' + b"K" * 15 + t + b'"' for t in texts]


def _flood(kinds: list[bytes]) -> bytes:
    nodes = [{"id": i, "symbol_id": i, "lang": "c", "kind": "f"} for i in "ab"]
    edges = b",".join(b'{"from":"a","to":"b","kind":' + kind + b"}" for kind in kinds)
    head = json.dumps({"schema": "richgraph-v1", "nodes": nodes}).encode()[:-1]
    return head + b', "edges": [' + edges + b"]}"


def test_texts_that_collided_under_the_old_hash_do_not_collide_and_are_declined() -> None:
    """Hash flooding: kind texts that shared one hash for every seed (all on one probe chain of
    the attribute sets' table) get distinct hashes, and the scan declines them anyway (not
    UTF-8) before it interns a set; both paths refuse the document alike."""
    assert _compiled_core is not None
    kinds = _old_collisions(8)
    assert len(set(kinds)) == 256
    for seed in (1, 2, secrets.randbits(64)):
        assert len({_old_hash(kind, seed) for kind in kinds}) == 1  # the construction holds
        assert len({_compiled_core.table_hash(kind, seed) for kind in kinds}) == 256
    edges = b"[" + b",".join(b'{"from":"a","to":"b","kind":' + k + b"}" for k in kinds) + b"]"
    assert _scan(["a", "b"], edges) is None
    assert _both(_flood(kinds))[0] == "invalid"


def test_a_probe_cap_reached_declines_to_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """A look-up that steps past more than `max_probes` slots declines (None), and the import
    then gives what the pure path gives. With no step allowed, 2000 ids in a table of 4096
    slots (and 2000 distinct sets) collide somewhere for any seed but with odds of e^-400."""
    assert _compiled_core is not None
    ids = [f"n{i}" for i in range(2000)]
    nodes = [{"id": i, "symbol_id": i, "lang": "c", "kind": "f"} for i in ids]
    edges = [{"from": i, "to": ids[0], "kind": f"k{n}"} for n, i in enumerate(ids)]
    raw = json.dumps(edges).encode()
    assert _scan(ids, raw) is not None  # the default cap: read
    assert _compiled_core.scan_edges(ids, raw, secrets.randbits(64), 0) is None
    with pytest.raises(ValueError, match="max_probes"):
        _compiled_core.scan_edges(ids, raw, 1, -1)
    data = json.dumps({"schema": "richgraph-v1", "nodes": nodes, "edges": edges}).encode()
    good = _both(data)
    assert good[0] is True
    real = _compiled_core.scan_edges
    declined: list[bool] = []

    def capped(ids: list[str], edges: Any, seed: int) -> Any:
        out = real(ids, edges, seed, 0)
        declined.append(out is None)
        return out

    capped_core = SimpleNamespace(**vars(_compiled_core))
    capped_core.scan_edges = capped
    monkeypatch.setattr(_compact, "_compiled_core", capped_core)
    assert _on("compiled", lambda: _outcome(data)) == good
    assert declined and all(declined)


def test_the_scan_declines_bytes_that_are_not_utf8() -> None:
    ids = ["a", "b"]
    for text in (b"\xc1A", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3", b"\x80"):
        assert _scan(ids, b'[{"from":"a","to":"b","kind":"' + text + b'"}]') is None, text
        assert _scan(ids, b'[{"from":"a","to":"b","evidence":["' + text + b'"]}]') is None, text
    for text in ("é", "€", "\U0010ffff", "\ud7ff", "x" * 9 + "é"):
        edges = ('[{"from":"a","to":"b","kind":"' + text + '"}]').encode()
        assert _scan(ids, edges) is not None, text
