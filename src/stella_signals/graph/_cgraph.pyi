"""Types of the compiled graph-import core (`_cgraph.c`, ADR 0011)."""

from msgspec import Raw

def pure_python_forced() -> bool: ...
def scan_edges(
    ids: list[str], edges: bytes | Raw, seed: int, /
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
