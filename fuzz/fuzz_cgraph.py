"""Fuzz the compiled graph-import core (`stella_signals.graph._cgraph`, ADR 0011).

Input: a control byte, then

* (control bit 0 clear) a graph document: the compact path with the compiled core must give
  exactly what it gives with the pure-Python path (`STELLA_PURE_PYTHON`): None for both, or
  the same canonical bytes, hash and index;
* (bit 0 set) a JSON array of node ids, a newline, and the raw text of an edges array, given
  straight to `scan_edges`. When it reads the text (anything but None), the typed decoder must
  agree: the whole array decodes to the same endpoints and attribute sets, or, when it does
  not decode, one of the distinct sets the scan found does not decode either (the scan reads
  structure only; values are Python's to check, once per distinct set).

`make fuzz` runs this harness on an AddressSanitizer + UBSan build of the extension
(`fuzz/build_cgraph.py`; with clang also coverage-guided by the C code): the environment
variable ``STELLA_CGRAPH_SO`` names that build, loaded here in place of the installed one.
Without it (the regression replay in pytest) the installed extension is used; without any
extension the harness has nothing to fuzz and says so. The Python code is not instrumented:
the guidance is the C code's.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
from _harness import (
    FUZZING,
    ContractViolation,
    load_variant,
    main,
    require,
    split_control,
)

load_variant("STELLA_CGRAPH_SO", "stella_signals.graph._cgraph")

from stella_signals.graph import _compact  # noqa: E402
from stella_signals.graph._compact import _compiled_core, _edges, compact_graph  # noqa: E402

MAX_LEN = 16 * 1024
DEFAULT_IDS = ["a", "b", "n1", "n2", "n3", "é", "x" * 40]
_ids_decoder = msgspec.json.Decoder(list[str])


def _with_path(compiled: bool, data: bytes) -> Any:
    before = os.environ.get("STELLA_PURE_PYTHON")
    os.environ["STELLA_PURE_PYTHON"] = "0" if compiled else "1"
    try:
        graph = compact_graph(data)
        if graph is None:
            return None
        return b"".join(graph.chunks()), graph.index("blake3:" + "0" * 64).to_bytes()
    finally:
        if before is None:
            del os.environ["STELLA_PURE_PYTHON"]
        else:
            os.environ["STELLA_PURE_PYTHON"] = before


def _ids(line: bytes) -> list[str]:
    """Node ids as the compact path has them: decoded JSON strings, none empty, no repeat."""
    try:
        ids = _ids_decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec raises both
        return DEFAULT_IDS
    return list(dict.fromkeys(i for i in ids if i and "\\" not in i)) or DEFAULT_IDS


def _set_edge(members: tuple[bytes | None, ...]) -> Any:
    """An edge of these attribute set members, typed as the compact path types it; None when
    the typed decoder refuses them."""
    text = b",".join(
        b'"' + name + b'":' + value
        for name, value in zip(_compact._SET_MEMBERS, members, strict=True)
        if value is not None
    )
    try:
        return _edges.decode(b'[{"from":"-","to":"-"' + b"," * bool(text) + text + b"}]")[0]
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec raises both
        return None


def _members(edge: Any) -> str:
    return repr((edge.kind, edge.purl, edge.confidence, edge.evidence))


def _check_scan(ids: list[str], edges: bytes) -> None:
    assert _compiled_core is not None
    scanned = _compiled_core.scan_edges(ids, edges, 0x5EED)
    if scanned is None:
        return
    edge_from, edge_to, attrs, sets, uses = scanned
    froms = memoryview(edge_from).cast("I")
    tos = memoryview(edge_to).cast("I")
    numbers = memoryview(attrs).cast("I")
    require(len(froms) == len(tos) == len(numbers) == sum(uses), "columns of unequal length")
    require(all(n < len(sets) for n in numbers), "an attribute set number past the sets")
    try:
        decoded = _edges.decode(edges)
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec raises both
        if all(_set_edge(members) is not None for members in sets):
            raise ContractViolation("read text the typed decoder refuses") from None
        return
    require(len(decoded) == len(froms), "edge count differs from the typed decoder's")
    for i, edge in enumerate(decoded):
        require(ids[froms[i]] == edge.source and ids[tos[i]] == edge.target, f"edge {i} ends")
        typed = _set_edge(sets[numbers[i]])
        require(typed is not None, f"edge {i}: its set does not decode, the array did")
        require(_members(typed) == _members(edge), f"edge {i}: its set differs from its members")


def test_one_input(data: bytes) -> None:
    if _compiled_core is None:
        require(not FUZZING, "the compiled graph core is not built: nothing to fuzz")
        return
    control, rest = split_control(data)
    if control & 1:
        line, _, edges = rest.partition(b"\n")
        _check_scan(_ids(line), edges)
        return
    compiled, python = _with_path(True, rest), _with_path(False, rest)
    if compiled != python:
        raise ContractViolation("the compiled and the pure-Python paths differ")


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
