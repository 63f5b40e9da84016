"""The compiled edge scan (`_cgraph.scan_edges`, ADR 0011) against the pure-Python path it
replaces: on generated graphs valid and spoilt, both give the same compact graph (bytes, hash,
index) or the same refusal (problems with their pointers, reasons and messages; the size
limit), and the scan reads exactly what it claims to, refusing (None) everything else."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stella_signals.errors import LimitExceeded
from stella_signals.graph import InvalidGraph, _compact, load_canonical
from stella_signals.graph._compact import _compiled_core, compact_graph, graph_core
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


@settings(max_examples=300, deadline=None)
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


@settings(max_examples=300, deadline=None)
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


@settings(max_examples=400, deadline=None)
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
    real, real_forced = _compiled_core.scan_edges, _compiled_core.pure_python_forced

    def swapped(ids: list[str], edges: Any, seed: int) -> Any:
        edge_from, edge_to, *rest = real(ids, edges, seed)
        return (edge_to, edge_from, *rest)

    broken = type("Core", (), {"scan_edges": staticmethod(swapped),
                               "pure_python_forced": staticmethod(real_forced)})  # fmt: skip
    monkeypatch.setattr(_compact, "_compiled_core", broken)
    assert _on("compiled", lambda: _outcome(as_bytes(BASE))) != good
    assert _on("python", lambda: _outcome(as_bytes(BASE))) == good
