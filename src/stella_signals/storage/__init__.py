"""Storage adapters: implementations of the ports in `stella_signals.ports`."""

from stella_signals.storage._fs_blobs import FilesystemBlobStore
from stella_signals.storage._index_cache import FilesystemIndexCache, MemoryIndexCache
from stella_signals.storage._memory_blobs import MemoryBlobStore
from stella_signals.storage._memory_repo import MemoryRepository
from stella_signals.storage._s3_blobs import S3BlobStore, S3Location, parse_cas_url
from stella_signals.storage._sql_repo import SqlRepository, sqlite_url

__all__ = [
    "FilesystemBlobStore",
    "FilesystemIndexCache",
    "MemoryBlobStore",
    "MemoryIndexCache",
    "MemoryRepository",
    "S3BlobStore",
    "S3Location",
    "SqlRepository",
    "parse_cas_url",
    "sqlite_url",
]
