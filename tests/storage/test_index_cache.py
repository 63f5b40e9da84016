"""The `IndexCache` contract on memory and on a directory: entries per tenant and graph,
replaced whole, keys that are never paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from stella_signals.errors import InvalidTenant
from stella_signals.ports import IndexCache
from stella_signals.storage import FilesystemIndexCache, MemoryIndexCache
from stella_signals.tenancy import TenantId

ACME, GLOBEX = TenantId("acme"), TenantId("globex")
HEX, OTHER = "a" * 64, "b" * 64


@pytest.fixture(params=["memory", "filesystem"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> IndexCache:
    if request.param == "memory":
        return MemoryIndexCache()
    return FilesystemIndexCache(tmp_path / "index")


def test_an_entry_is_kept_per_tenant_and_graph(cache: IndexCache) -> None:
    assert cache.get(ACME, HEX) is None
    cache.put(ACME, HEX, b"one")
    assert cache.get(ACME, HEX) == b"one"
    assert cache.get(GLOBEX, HEX) is None and cache.get(ACME, OTHER) is None
    cache.put(ACME, HEX, b"two")
    assert cache.get(ACME, HEX) == b"two"


@pytest.mark.parametrize("key", ["../" + "a" * 61, "A" * 64, "a" * 63, "blake3:" + "a" * 64])
def test_a_key_is_never_a_path(cache: IndexCache, key: str) -> None:
    with pytest.raises(ValueError, match="64 lower-case hex"):
        cache.put(ACME, key, b"x")
    with pytest.raises(ValueError, match="64 lower-case hex"):
        cache.get(ACME, key)
    with pytest.raises(InvalidTenant):
        cache.get(TenantId("../etc"), HEX)


def test_the_directory_layout_is_tenant_then_graph(tmp_path: Path) -> None:
    FilesystemIndexCache(tmp_path).put(ACME, HEX, b"index")
    assert (tmp_path / "acme" / f"{HEX}.index").read_bytes() == b"index"
    assert sorted(p.name for p in (tmp_path / "acme").iterdir()) == [f"{HEX}.index"]
