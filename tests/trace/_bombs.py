"""Gzip bombs made in memory in a few milliseconds, never written out whole.

One 1 MiB block is deflated once, ending in a full flush so that the next block starts from
an empty window at a byte boundary: the same deflate bytes then stand for every later block,
and the stream is finished with a final empty block and the gzip trailer (CRC-32 and size of
everything). ``gunzip`` reads the result as any other gzip file.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator

from isal import isal_zlib

MiB = 1 << 20
GiB = 1 << 30
#: gzip member header: deflate, no flags, mtime 0, max compression, OS unknown.
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


class NewlineBomb:
    """A single-member gzip stream of ``size`` bytes of ``line_end`` repeated (``size`` a
    multiple of 1 MiB), produced lazily; ``blocks_made`` counts the 1 MiB blocks handed out
    so far, i.e. an upper bound of what a reader could have inflated."""

    def __init__(self, size: int, line_end: bytes = b"\n") -> None:
        assert size % MiB == 0 and MiB % len(line_end) == 0
        self.size = size
        self.block = line_end * (MiB // len(line_end))
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.piece = deflater.compress(self.block) + deflater.flush(zlib.Z_FULL_FLUSH)
        again = deflater.compress(self.block) + deflater.flush(zlib.Z_FULL_FLUSH)
        assert again == self.piece  # a full flush makes each block's deflate bytes the same
        self.final = deflater.flush()
        self.blocks_made = 0

    @property
    def compressed_size(self) -> int:
        blocks = self.size // MiB
        return len(_HEADER) + blocks * len(self.piece) + len(self.final) + 8

    def __iter__(self) -> Iterator[bytes]:
        crc = 0
        yield _HEADER
        for _ in range(self.size // MiB):
            self.blocks_made += 1
            crc = isal_zlib.crc32(self.block, crc)
            yield self.piece
        yield self.final + struct.pack("<II", crc, self.size & 0xFFFFFFFF)

    def as_bytes(self) -> bytes:
        return b"".join(self)


def rechunked(pieces: Iterable[bytes], size: int = MiB) -> Iterator[bytes]:
    """The same bytes in chunks of ``size`` (as a file is read), pulling pieces only as needed."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
