"""A Protocol's stub methods never run for a structural match; the object passed in does."""

from typing import Protocol


class Store(Protocol):
    def save(self, data: bytes) -> str:
        """Store data; return where."""
        ...

    def load(self, where: str) -> bytes:
        raise NotImplementedError


class FileStore:
    def save(self, data: bytes) -> str:
        return "file"

    def load(self, where: str) -> bytes:
        return b""


class MemoryStore:
    def save(self, data: bytes) -> str:
        return "memory"


def archive(store: Store, data: bytes) -> str:
    where = store.save(data)
    store.load(where)
    return where


def main() -> None:
    archive(FileStore(), b"x")


if __name__ == "__main__":
    main()
