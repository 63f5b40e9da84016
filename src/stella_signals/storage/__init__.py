"""Storage adapters: implementations of the ports in `stella_signals.ports`."""

from stella_signals.storage._fs_blobs import FilesystemBlobStore
from stella_signals.storage._memory_blobs import MemoryBlobStore
from stella_signals.storage._sql_repo import SqlRepository, sqlite_url

__all__ = ["FilesystemBlobStore", "MemoryBlobStore", "SqlRepository", "sqlite_url"]
