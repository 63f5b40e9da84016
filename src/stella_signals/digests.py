"""Digest helpers: SHA-256 for bytes as received, BLAKE3 for graphs (SPEC §1)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import blake3

from stella_signals.errors import InvalidDigest

__all__ = [
    "Algorithm",
    "Digest",
    "Hasher",
    "blake3_hex",
    "new_hasher",
    "parse_digest",
    "sha256_hex",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")


class Algorithm(StrEnum):
    SHA256 = "sha256"
    BLAKE3 = "blake3"


class Hasher(Protocol):
    def update(self, data: bytes, /) -> object: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A digest with its algorithm; ``str()`` is always the prefixed form."""

    algorithm: Algorithm
    hex: str

    def __post_init__(self) -> None:
        if not _HEX64.fullmatch(self.hex):
            raise InvalidDigest(f"not a 64-digit lowercase hex digest: {self.hex!r}")

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def parse_digest(text: str, *, default: Algorithm = Algorithm.SHA256) -> Digest:
    """Parse ``sha256:<hex>``, ``blake3:<hex>`` or bare hex (taken as ``default``)."""
    if not isinstance(text, str):
        raise InvalidDigest(f"digest must be a string, got {type(text).__name__}")
    algo_text, sep, hex_part = text.partition(":")
    if not sep:
        return Digest(default, text)
    try:
        algorithm = Algorithm(algo_text)
    except ValueError:
        raise InvalidDigest(f"unknown digest algorithm {algo_text!r} in {text!r}") from None
    return Digest(algorithm, hex_part)


def new_hasher(algorithm: Algorithm) -> Hasher:
    if algorithm is Algorithm.SHA256:
        return hashlib.sha256()
    return blake3.blake3(max_threads=1)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blake3_hex(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()
