"""Raw bytes → decompressed bytes → line batches, with every limit enforced while streaming.

Nothing here holds more than one chunk plus one partial line in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from isal import isal_zlib

from stella_signals.errors import LimitExceeded
from stella_signals.limits import Limits

__all__ = [
    "GZIP_MAGIC",
    "DecompressionFailed",
    "LineBatch",
    "StreamStats",
    "drain",
    "without_bom",
]

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
#: Lines skipped in bulk: empty, or a lone CR (a blank CRLF line). Other whitespace-only
#: lines reach the parser, which ignores them too.
_BLANK = frozenset({b"", b"\r"})
#: How a block of blank lines starts (checked before looking at the whole block).
_BLANK_STARTS = frozenset({b"", b"\n", b"\r"})
#: Most decompressed bytes produced per inflate call (bounds memory on a gzip bomb).
INFLATE_STEP = 1 << 20


class DecompressionFailed(Exception):
    """The gzip stream is corrupt or truncated (turned into a diagnostic by the parser)."""


@dataclass(slots=True)
class StreamStats:
    """Counters filled in while streaming; final once the stream is exhausted."""

    compressed_bytes: int = 0
    #: Bytes of the gzip stream the inflater has consumed so far (<= compressed_bytes, which
    #: also counts what was read ahead): the denominator of the compression ratio.
    inflated_bytes: int = 0
    decompressed_bytes: int = 0
    #: Blank lines skipped in bulk by `line_batches` (never handed to the parser).
    blank_lines: int = 0
    gzip: bool = False
    bom: bool = False
    _hasher: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return self._hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class LineBatch:
    """Complete lines (no line ends) starting at 1-based line ``first_line``.

    ``block`` is the same lines joined by ``\\n`` (cheap whole-batch scans); ``overlong``
    lists the line numbers that were over the limit, whose bytes were dropped (their slot in
    ``lines`` is empty). ``longest`` is the length of the longest line kept.
    """

    first_line: int
    lines: list[bytes]
    block: bytes
    overlong: tuple[int, ...] = ()
    longest: int = 0


def _metered(raw: Iterable[bytes], stats: StreamStats, limits: Limits) -> Iterator[bytes]:
    update = stats._hasher.update
    for chunk in raw:
        if not chunk:
            continue
        stats.compressed_bytes += len(chunk)
        if stats.compressed_bytes > limits.max_compressed_bytes:
            raise LimitExceeded(
                f"trace is larger than {limits.max_compressed_bytes} bytes as sent",
                limit="max_compressed_bytes",
            )
        update(chunk)
        yield chunk


def drain(raw: Iterator[bytes], stats: StreamStats, limits: Limits) -> None:
    """Hash and count what is left of ``raw`` unread (after a corrupt gzip stream), so that
    ``stats`` describe every byte as sent, whatever the chunking."""
    for _ in _metered(raw, stats, limits):
        pass


def _sniffed(raw: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """Read at least two bytes (or to the end) to look at the magic number."""
    head = b""
    for chunk in raw:
        head += chunk
        if len(head) >= 2:
            break
    return head, raw


def _inflate(first: bytes, rest: Iterator[bytes], stats: StreamStats) -> Iterator[bytes]:
    """gzip → bytes, members concatenated (RFC 1952 §2.2), never more than INFLATE_STEP a call;
    counts in ``stats.inflated_bytes`` the input each call consumed."""
    inflater = isal_zlib.decompressobj(wbits=31)
    member_done = False
    data = first
    while True:
        while data:
            if member_done:  # the previous member ended: these bytes start the next one
                inflater = isal_zlib.decompressobj(wbits=31)
                member_done = False
            try:
                out = inflater.decompress(data, INFLATE_STEP)
            except isal_zlib.error as exc:  # type: ignore[misc]  # untyped C module
                raise DecompressionFailed(f"corrupt gzip stream: {exc}") from None
            given = len(data)
            if inflater.eof:
                member_done = True
                data = inflater.unused_data
            else:
                data = inflater.unconsumed_tail
            stats.inflated_bytes += given - len(data)
            if out:
                yield out
        chunk = next(rest, None)
        if chunk is None:
            if not member_done:
                raise DecompressionFailed("truncated gzip stream (ended before its trailer)")
            return
        data = chunk


def decompressed_chunks(
    raw: Iterable[bytes], stats: StreamStats, limits: Limits
) -> Iterator[bytes]:
    """Hash and count ``raw``; inflate it if it starts with the gzip magic; enforce limits."""
    metered = _metered(raw, stats, limits)
    head, rest = _sniffed(metered)
    if not head:
        return
    stats.gzip = head.startswith(GZIP_MAGIC)
    produced = _inflate(head, rest, stats) if stats.gzip else _chain(head, rest)
    for chunk in produced:
        stats.decompressed_bytes += len(chunk)
        if stats.decompressed_bytes > limits.max_decompressed_bytes:
            raise LimitExceeded(
                f"trace is larger than {limits.max_decompressed_bytes} bytes decompressed",
                limit="max_decompressed_bytes",
            )
        # The ratio is of the whole trace so far: every byte inflated over every byte of the
        # gzip stream the inflater consumed to produce it (not what was read ahead, which
        # would let a bomb that fits in one read inflate 200 times its size before it counts).
        if (
            stats.gzip
            and stats.decompressed_bytes > limits.ratio_grace_bytes
            and stats.decompressed_bytes > limits.max_compression_ratio * stats.inflated_bytes
        ):
            raise LimitExceeded(
                f"compression ratio above {limits.max_compression_ratio}:1 "
                f"({stats.decompressed_bytes} bytes from the first {stats.inflated_bytes} "
                "bytes of the gzip stream): refusing a likely gzip bomb",
                limit="max_compression_ratio",
            )
        yield chunk


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


def line_batches(
    chunks: Iterable[bytes], stats: StreamStats, limits: Limits
) -> Iterator[LineBatch]:
    """Split decompressed bytes into batches of complete lines; overlong lines are dropped
    (and named) without ever being buffered past the limit; a block of nothing but blank
    lines is counted (``stats.blank_lines``) without being split."""
    max_line = limits.max_line_bytes
    carry = b""
    skipping = False  # inside an overlong line: drop bytes until its newline
    line_no = 1
    for chunk in without_bom(chunks, stats):
        if skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = chunk[newline + 1 :]
            skipping = False
            line_no += 1
        data = carry + chunk if carry else chunk
        last_newline = data.rfind(b"\n")
        if last_newline < 0:
            if _too_long(data, max_line):
                yield LineBatch(line_no, [b""], b"", (line_no,))
                carry, skipping = b"", True
            else:
                carry = data
            continue
        block = data[:last_newline]
        carry = data[last_newline + 1 :]
        if block[:1] in _BLANK_STARTS and _all_blank(block):
            skipped = block.count(b"\n") + 1  # a run of blank lines (a newline bomb, say)
            stats.blank_lines += skipped
            line_no += skipped
        else:
            batch = _batch(block.split(b"\n"), block, line_no, max_line)
            yield batch
            line_no += len(batch.lines)
        if _too_long(carry, max_line):
            yield LineBatch(line_no, [b""], b"", (line_no,))
            carry, skipping = b"", True
    if carry and not skipping:
        yield LineBatch(line_no, [carry], carry, (), len(carry))


def without_bom(chunks: Iterable[bytes], stats: StreamStats) -> Iterator[bytes]:
    """``chunks`` without a UTF-8 byte order mark at the very start (``stats.bom`` says there
    was one), however the first bytes are split: a gzip stream fed in small pieces can
    inflate to a first chunk shorter than the mark."""
    rest = iter(chunks)
    head = b""
    for chunk in rest:
        head += chunk
        if len(head) >= len(UTF8_BOM) or not UTF8_BOM.startswith(head):
            break
    if head.startswith(UTF8_BOM):
        stats.bom = True
        head = head[len(UTF8_BOM) :]
    if head:
        yield head
    yield from rest


def _batch(lines: list[bytes], block: bytes, first_line: int, max_line: int) -> LineBatch:
    """The lines of ``block`` as a batch, overlong ones emptied and named."""
    overlong: tuple[int, ...] = ()
    longest = max(map(len, lines))
    if longest > max_line:
        overlong = tuple(first_line + i for i, ln in enumerate(lines) if _too_long(ln, max_line))
        for number in overlong:
            lines[number - first_line] = b""
        block = b"\n".join(lines)
        longest = max(map(len, lines))
    return LineBatch(first_line, lines, block, overlong, longest)


def _all_blank(block: bytes) -> bool:
    """Whether every line of ``block`` is blank: empty, or a lone CR."""
    return not block.strip(b"\n") or (not block.strip(b"\r\n") and b"\r\r" not in block)


def without_blanks(batch: LineBatch) -> list[LineBatch]:
    """The stretches of non-blank lines of ``batch`` (no overlong line), each a batch with its
    own first line number: lets a batch with a few blank lines take the fast path."""
    lines = batch.lines
    count = len(lines)
    stretches = []
    end = 0
    while end < count:
        start = end
        while start < count and lines[start] in _BLANK:
            start += 1
        end = start
        while end < count and lines[end] not in _BLANK:
            end += 1
        if end > start:
            part = lines[start:end]
            stretches.append(
                LineBatch(batch.first_line + start, part, b"\n".join(part), (), batch.longest)
            )
    return stretches


def _too_long(line: bytes, max_line: int) -> bool:
    """Over the limit, not counting a CR of a CRLF line end."""
    excess = len(line) - max_line
    return excess > 1 or (excess == 1 and not line.endswith(b"\r"))
