"""Types of the compiled trace core (`_ctrace.c`, ADR 0008)."""

from typing import Any

def pure_python_forced() -> bool: ...

class Scanner:
    lines: int
    records: int
    edge_count: int
    nonblank: bool
    key_count: int
    missing_budget: int
    suppressed: int
    split_min: int
    lane_max_keys: int
    def __init__(
        self,
        max_line_bytes: int,
        max_symbol_id_bytes: int,
        max_records: int,
        max_edges: int,
        seed: int,
    ) -> None: ...
    def feed(self, chunk: bytes, /) -> list[str] | None: ...
    def finish(self) -> list[str] | None: ...
    def settle(self, good: list[bool], /) -> list[tuple[int, int, Any]]: ...
    def add(
        self,
        line: int,
        symbol_id: bytes,
        purl: bytes,
        container: bytes | None,
        count: int,
        micros: int,
        caller: bytes | None,
        code_id: bytes | None,
        /,
    ) -> None: ...
    def summary(self) -> tuple[int, Any, Any]: ...
    def result(
        self, tally_type: type[Any], unset: object, /
    ) -> tuple[dict[tuple[str, str, object], Any], dict[tuple[str, str], int], dict[str, str]]: ...
