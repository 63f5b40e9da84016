"""`IndexCache` adapters: a local directory (``<data_dir>/index/<tenant>/<hex>.index``,
replaced atomically) and memory."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

from stella_signals.tenancy import TenantId, parse_tenant

__all__ = ["FilesystemIndexCache", "MemoryIndexCache"]

_HEX = re.compile(r"[0-9a-f]{64}")


def _checked(tenant: TenantId, graph_hex: str) -> tuple[TenantId, str]:
    """The key, refused unless it is a tenant id and a graph's hex (never a path)."""
    if not _HEX.fullmatch(graph_hex):
        raise ValueError(f"an index cache key is 64 lower-case hex digits, got {graph_hex!r}")
    return parse_tenant(tenant), graph_hex


class FilesystemIndexCache:
    """One file per tenant and graph under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"FilesystemIndexCache({str(self.root)!r})"

    def _path(self, tenant: TenantId, graph_hex: str) -> Path:
        tenant, graph_hex = _checked(tenant, graph_hex)
        return self.root / tenant / f"{graph_hex}.index"

    def get(self, tenant: TenantId, graph_hex: str) -> bytes | None:
        try:
            return self._path(tenant, graph_hex).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, tenant: TenantId, graph_hex: str, data: bytes) -> None:
        target = self._path(tenant, graph_hex)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".index-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class MemoryIndexCache:
    """Entries in a dict (tests, one-shot tools)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[TenantId, str], bytes] = {}
        self._lock = threading.Lock()

    def get(self, tenant: TenantId, graph_hex: str) -> bytes | None:
        key = _checked(tenant, graph_hex)
        with self._lock:
            return self._entries.get(key)

    def put(self, tenant: TenantId, graph_hex: str, data: bytes) -> None:
        key = _checked(tenant, graph_hex)
        with self._lock:
            self._entries[key] = bytes(data)
