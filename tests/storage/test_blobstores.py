"""The blob-store contract on every local backend, plus filesystem-specific behaviour."""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import HashMismatch, LimitExceeded, NotFound, Unavailable
from stella_signals.ports import BlobStore
from stella_signals.storage import FilesystemBlobStore, MemoryBlobStore
from stella_signals.tenancy import TenantId

from .blobstore_contract import ACME, GLOBEX, BlobStoreContract, read_all, runtime_uri


def _files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if not p.is_dir())


def _flip_last_byte(path: Path) -> None:
    data = path.read_bytes()
    path.chmod(0o640)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]) if data else b"\x00")


class TestMemoryBlobStore(BlobStoreContract):
    @pytest.fixture
    def store(self) -> BlobStore:
        return MemoryBlobStore()

    def corrupt(self, store: BlobStore, tenant: TenantId, uri: CasUri) -> None:
        assert isinstance(store, MemoryBlobStore)
        store.corrupt(tenant, uri)

    def test_corrupt_hook_needs_an_existing_blob(self) -> None:
        with pytest.raises(NotFound):
            MemoryBlobStore().corrupt(ACME, runtime_uri(b"absent"))

    def test_corrupt_hook_takes_replacement_bytes(self) -> None:
        store = MemoryBlobStore()
        blob = store.put(ACME, Namespace.RUNTIME, [b"original"])
        store.corrupt(ACME, blob.uri, b"forged")
        assert store.size(ACME, blob.uri) == len(b"forged")
        with pytest.raises(HashMismatch):
            read_all(store, ACME, blob.uri)


class TestFilesystemBlobStore(BlobStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> BlobStore:
        return FilesystemBlobStore(tmp_path / "cas")

    def corrupt(self, store: BlobStore, tenant: TenantId, uri: CasUri) -> None:
        assert isinstance(store, FilesystemBlobStore)
        _flip_last_byte(store.path_of(tenant, uri))


class TestFilesystemSpecifics:
    @pytest.fixture
    def store(self, tmp_path: Path) -> FilesystemBlobStore:
        return FilesystemBlobStore(tmp_path / "cas")

    def test_layout(self, store: FilesystemBlobStore) -> None:
        blob = store.put(ACME, Namespace.GRAPHS, [b"graph"])
        hex_digest = blob.uri.digest.hex
        expected = store.root / "acme" / "reachability" / "graphs" / hex_digest[:2] / hex_digest
        assert store.path_of(ACME, blob.uri) == expected
        assert _files_under(store.root) == [expected]

    @pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils sha256sum")
    def test_stored_file_matches_sha256sum(self, store: FilesystemBlobStore) -> None:
        data = os.urandom(3 * 1024 * 1024 + 5)
        blob = store.put(ACME, Namespace.RUNTIME, [data])
        out = subprocess.run(
            ["sha256sum", str(store.path_of(ACME, blob.uri))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert out.split()[0] == blob.sha256 == blob.uri.digest.hex

    def test_nothing_under_the_tenant_tree_before_publish(self, store: FilesystemBlobStore) -> None:
        with store.stage(ACME, Namespace.RUNTIME, [b"pending"]) as staged:
            assert not (store.root / "acme").exists()
            assert len(_files_under(store.root / ".staging")) == 1
            staged.publish()
        assert _files_under(store.root / ".staging") == []
        assert _files_under(store.root / "acme") == [store.path_of(ACME, staged.uri)]

    @pytest.mark.parametrize("outcome", ["discard", "limit", "mismatch", "dedup"])
    def test_staging_is_empty_after_every_outcome(
        self, store: FilesystemBlobStore, outcome: str
    ) -> None:
        store.put(ACME, Namespace.RUNTIME, [b"existing"])
        if outcome == "discard":
            store.stage(ACME, Namespace.RUNTIME, [b"x"]).discard()
        elif outcome == "limit":
            with pytest.raises(LimitExceeded):
                store.put(ACME, Namespace.RUNTIME, [b"xx"], max_bytes=1)
        elif outcome == "mismatch":
            with pytest.raises(HashMismatch):
                store.put(ACME, Namespace.RUNTIME, [b"x"], expected_hex="0" * 64)
        else:
            assert store.put(ACME, Namespace.RUNTIME, [b"existing"]).created is False
        assert _files_under(store.root / ".staging") == []
        assert len(_files_under(store.root / "acme")) == 1

    def test_permissions(self, store: FilesystemBlobStore) -> None:
        umask = os.umask(0o022)
        os.umask(umask)
        with store.stage(ACME, Namespace.RUNTIME, [b"perm"]) as staged:
            [part] = _files_under(store.root / ".staging")
            assert stat.S_IMODE(part.stat().st_mode) == 0o640 & ~umask
            blob = staged.publish()
        assert stat.S_IMODE(store.path_of(ACME, blob.uri).stat().st_mode) == 0o440

    def test_abandoned_stage_leaves_nothing_visible_and_is_swept(
        self, store: FilesystemBlobStore
    ) -> None:
        staged = store.stage(ACME, Namespace.RUNTIME, [b"abandoned"])  # never closed
        assert not store.exists(ACME, staged.uri)
        assert not (store.root / "acme").exists()
        now = datetime.now(UTC)
        assert store.sweep_staging(3600, now=now) == 0  # too young
        # still owned (its staged blob is alive): never swept, however old
        assert store.sweep_staging(3600, now=now + timedelta(hours=2)) == 0
        del staged
        gc.collect()
        assert store.sweep_staging(3600, now=now) == 0  # too young
        assert store.sweep_staging(3600, now=now + timedelta(hours=2)) == 1
        assert _files_under(store.root) == []

    def test_a_live_upload_of_another_store_is_not_swept(self, tmp_path: Path) -> None:
        """Two processes (here: two stores) on one directory: a sweep at age 0 removes the
        leftover of a crashed writer but not the staging file of a live, stalled one."""
        root = tmp_path / "cas"
        crashed = subprocess.run([sys.executable, "-c", _CRASHING_WRITER.format(root=str(root))])
        assert crashed.returncode == 9
        live = FilesystemBlobStore(root).stage(ACME, Namespace.RUNTIME, [b"in flight"])
        assert len(_files_under(root / ".staging")) == 2
        sweeper = FilesystemBlobStore(root)
        assert sweeper.sweep_staging(0, now=datetime.now(UTC) + timedelta(seconds=1)) == 1
        assert _files_under(root / ".staging") != []
        assert live.publish().created  # the sweep left it whole
        assert _files_under(root / ".staging") == []

    def test_process_killed_mid_write_leaves_only_staging(self, tmp_path: Path) -> None:
        root = tmp_path / "cas"
        script = _CRASHING_WRITER.format(root=str(root))
        result = subprocess.run([sys.executable, "-c", script], check=False)
        assert result.returncode == 9
        store = FilesystemBlobStore(root)
        assert not (root / "acme").exists()
        [part] = _files_under(root / ".staging")
        assert part.stat().st_size > 0
        assert store.sweep_staging(0, now=datetime.now(UTC) + timedelta(seconds=1)) == 1
        assert _files_under(root) == []

    def test_planted_file_is_never_overwritten_and_fails_verification(
        self, store: FilesystemBlobStore
    ) -> None:
        data = b"the real trace"
        uri = runtime_uri(data)
        target = store.path_of(ACME, uri)
        target.parent.mkdir(parents=True)
        target.write_bytes(b"planted bytes")
        blob = store.put(ACME, Namespace.RUNTIME, [data])
        assert blob.created is False
        assert target.read_bytes() == b"planted bytes"
        with pytest.raises(HashMismatch):
            read_all(store, ACME, uri)
        assert _files_under(store.root / ".staging") == []

    def test_symlink_at_the_address_is_not_a_blob(
        self, store: FilesystemBlobStore, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.write_bytes(b"secret")
        uri = runtime_uri(b"secret")
        target = store.path_of(ACME, uri)
        target.parent.mkdir(parents=True)
        target.symlink_to(outside)
        assert not store.exists(ACME, uri)
        with pytest.raises(NotFound):
            store.open(ACME, uri)

    def test_other_tenant_directory_is_not_consulted(self, store: FilesystemBlobStore) -> None:
        blob = store.put(GLOBEX, Namespace.RUNTIME, [b"globex"])
        assert not store.exists(ACME, blob.uri)
        assert store.path_of(ACME, blob.uri) != store.path_of(GLOBEX, blob.uri)

    def test_a_second_store_on_the_same_root_sees_the_blobs(self, tmp_path: Path) -> None:
        blob = FilesystemBlobStore(tmp_path / "cas").put(ACME, Namespace.RUNTIME, [b"kept"])
        assert read_all(FilesystemBlobStore(tmp_path / "cas"), ACME, blob.uri) == b"kept"

    def test_sweep_rejects_negative_age(self, store: FilesystemBlobStore) -> None:
        with pytest.raises(ValueError, match="older_than_seconds"):
            store.sweep_staging(-1)

    def test_open_is_lazy_and_streams_in_mebibyte_chunks(self, store: FilesystemBlobStore) -> None:
        data = hashlib.sha256(b"x").digest() * (3 * 1024 * 1024 // 32 + 1)
        blob = store.put(ACME, Namespace.RUNTIME, [data])
        sizes = [len(c) for c in store.open(ACME, blob.uri)]
        assert sizes[:-1] == [1024 * 1024] * (len(sizes) - 1)
        assert sum(sizes) == len(data)

    def test_storage_failure_is_unavailable(self, store: FilesystemBlobStore) -> None:
        (store.root / ".staging").rmdir()  # the volume went away under us
        with pytest.raises(Unavailable):
            store.put(ACME, Namespace.RUNTIME, [b"x"])


#: A process that dies (like SIGKILL: no cleanup) while writing a staging file under root.
_CRASHING_WRITER = textwrap.dedent(
    """
    import os
    from pathlib import Path
    from stella_signals.cas import Namespace
    from stella_signals.storage import FilesystemBlobStore
    from stella_signals.tenancy import parse_tenant

    def chunks():
        yield b"a" * 100_000
        yield b"b" * 100_000
        os._exit(9)

    store = FilesystemBlobStore(Path({root!r}))
    store.put(parse_tenant("acme"), Namespace.RUNTIME, chunks())
    """
)
