"""Every input stella-signals accepts has a named limit, all of them here (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits", "require_count"]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Limits enforced while streaming; every value is configurable."""

    #: Largest accepted trace as sent (gzip or plain), in bytes.
    max_compressed_bytes: int = 512 * MiB
    #: Largest trace after decompression, in bytes.
    max_decompressed_bytes: int = 8 * GiB
    #: Largest decompressed : compressed ratio, checked once past `ratio_grace_bytes`.
    max_compression_ratio: int = 200
    #: Decompressed bytes below which the ratio is not checked.
    ratio_grace_bytes: int = 1 * MiB
    #: Longest line (bytes, without its line end).
    max_line_bytes: int = 64 * KiB
    #: Most records (data lines) in one trace.
    max_records: int = 50_000_000
    #: Most distinct (caller_symbol_id, symbol_id) call edges kept from one trace (SPEC §9).
    max_edges: int = 1_000_000
    #: Diagnostics kept in memory per trace (all of them still reach a sink).
    max_kept_diagnostics: int = 1000
    #: Longest `symbol_id`, in UTF-8 bytes.
    max_symbol_id_bytes: int = 1024
    #: Largest richgraph-v1 document accepted over HTTP (held in memory to be validated).
    max_graph_bytes: int = 1 * GiB
    #: Largest SYMBOL_MANIFEST/v1 document.
    max_symbol_manifest_bytes: int = 64 * MiB
    #: Largest probe manifest (``stella.probe-manifest/v1``, SPEC §14) sent with a trace.
    max_probe_manifest_bytes: int = 64 * KiB
    #: Largest HTTP request line and header fields together, in bytes (431 past it).
    max_header_bytes: int = 64 * KiB
    #: Most HTTP header fields in one request (431 past it).
    max_headers: int = 100

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            require_count(value, f"Limits.{name}")


def require_count(value: object, name: str, *, allow_zero: bool = False) -> int:
    """``value`` when it is an ``int`` (a ``bool`` is not) of at least 1 (0 with
    ``allow_zero``); `ValueError` naming ``name`` otherwise. For arguments and settings (a
    programming or configuration error), never for wire input, which has its own refusals."""
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")
    return value


DEFAULT_LIMITS = Limits()


#: TCP ports a server can listen on (`signals serve --port`, config ``server.port``).
PORT_RANGE = range(1, 65536)
