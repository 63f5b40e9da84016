"""Types of the compiled graph-import core (`_cgraph.c`, ADR 0011)."""

from array import array
from typing import Any

from msgspec import Raw

def pure_python_forced() -> bool: ...
def table_hash(data: bytes, seed: int, /) -> int: ...
def scan_edges(
    ids: list[str], edges: bytes | Raw, seed: int, max_probes: int = 128, /
) -> (
    tuple[
        bytes,
        bytes,
        bytes,
        list[tuple[bytes | None, bytes | None, bytes | None, bytes | None]],
        list[int],
    ]
    | None
): ...
def edge_order(
    edge_from: array[int], edge_to: array[int], edge_attrs: array[int], kind_rank: array[int], /
) -> tuple[bytes, list[int]]: ...
def permuted(values: array[int], order: array[int], /) -> bytes: ...
def edge_text(
    ids: list[str],
    pre: list[str],
    mid: list[str],
    edge_from: array[int],
    edge_to: array[int],
    edge_attrs: array[int],
    start: int,
    stop: int,
    /,
) -> bytes: ...
def join_rows(columns: list[Any], start: int, stop: int, /) -> bytes: ...
