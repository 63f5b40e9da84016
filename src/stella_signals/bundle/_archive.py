"""What a runtime bundle may hold (SPEC §10), one rule for a ``.tar.gz`` and a directory alike:
regular files only (and directories holding them), plain relative names, no duplicates, at
most 64 entries and a cap on the bytes in all. `BundleLayout` is that rule; the tarball
reader here and the directory reader of the command line both feed it every entry they meet.

Also the deterministic ``.tar.gz`` writer shared with the Evidence Locker export: entries
sorted by name, USTAR headers with mtime 0, uid/gid 0, empty uname/gname, mode 0644, and a
gzip member with mtime 0, no file name, OS "unknown" and zlib level 9 (written here, not by
`gzip`, whose header bytes vary across Python versions).
"""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import zlib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import PurePosixPath

from stella_signals.errors import InvalidManifest, LimitExceeded

__all__ = [
    "DEFAULT_MAX_BUNDLE_BYTES",
    "MAX_BUNDLE_ENTRIES",
    "BundleLayout",
    "EntryKind",
    "entry_kind_of_mode",
    "read_bundle_archive",
    "write_bundle_archive",
]

DEFAULT_MAX_BUNDLE_BYTES = 1 << 30
#: Entries (files and directories) a bundle may hold.
MAX_BUNDLE_ENTRIES = 64
#: ID1 ID2, CM deflate, FLG none, MTIME 0, XFL 2 (max compression), OS 255 (unknown).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
_COMPRESS_LEVEL = 9


class EntryKind(StrEnum):
    """What an entry of a bundle is, as a tar header or ``lstat`` says (never following a
    link); the value names it in error messages."""

    FILE = "regular file"
    DIRECTORY = "directory"
    SYMLINK = "symbolic link"
    HARDLINK = "hard link"
    DEVICE = "device"
    FIFO = "FIFO"
    SOCKET = "socket"
    OTHER = "special file"


def entry_kind_of_mode(mode: int) -> EntryKind:
    """The kind of a directory entry from its ``lstat`` mode."""
    if stat.S_ISREG(mode):
        return EntryKind.FILE
    if stat.S_ISDIR(mode):
        return EntryKind.DIRECTORY
    if stat.S_ISLNK(mode):
        return EntryKind.SYMLINK
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return EntryKind.DEVICE
    if stat.S_ISFIFO(mode):
        return EntryKind.FIFO
    if stat.S_ISSOCK(mode):
        return EntryKind.SOCKET
    return EntryKind.OTHER


def _member_kind(member: tarfile.TarInfo) -> EntryKind:
    if member.isreg():
        return EntryKind.FILE
    if member.isdir():
        return EntryKind.DIRECTORY
    if member.issym():
        return EntryKind.SYMLINK
    if member.islnk():
        return EntryKind.HARDLINK
    if member.ischr() or member.isblk():
        return EntryKind.DEVICE
    if member.isfifo():
        return EntryKind.FIFO
    return EntryKind.OTHER


class BundleLayout:
    """The entries of one bundle, checked one by one as a reader meets them.

    `admit` answers the bundle path of a regular file to take, None for a directory (whose
    contents come as entries of their own), and raises `InvalidManifest` for anything else:
    a link, a device, a FIFO, a name that leaves the bundle, a duplicate, one entry too many;
    `LimitExceeded` once the files pass ``max_bytes`` in all.
    """

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.paths: list[str] = []
        self._entries = 0
        self._bytes = 0

    def admit(self, name: str, kind: EntryKind, size: int = 0) -> str | None:
        self._entries += 1
        if self._entries > MAX_BUNDLE_ENTRIES:
            raise InvalidManifest(f"bundle: more than {MAX_BUNDLE_ENTRIES} entries")
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts:
            raise InvalidManifest(f"bundle: entry {name!r} leaves the bundle")
        path = pure.as_posix()
        if kind is EntryKind.DIRECTORY:
            return None
        if path == ".":
            raise InvalidManifest(f"bundle: entry {name!r} has no name")
        if kind is not EntryKind.FILE:
            raise InvalidManifest(
                f"bundle: {path!r} is a {kind.value}, not a regular file (links, devices and"
                " FIFOs are refused)"
            )
        if path in self.paths:
            raise InvalidManifest(f"bundle: {path!r} appears twice")
        self._bytes += size
        if self._bytes > self.max_bytes:
            raise LimitExceeded(
                f"bundle files pass {self.max_bytes} bytes", limit="max_bundle_bytes"
            )
        self.paths.append(path)
        return path


def _inflate(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    out = bytearray()
    chunk = data
    while chunk:
        out += inflater.decompress(chunk, limit + 1 - len(out))
        if len(out) > limit:
            raise LimitExceeded(f"bundle inflates past {limit} bytes", limit="max_bundle_bytes")
        chunk = inflater.unconsumed_tail
    if not inflater.eof:
        raise InvalidManifest("bundle: truncated gzip stream")
    return bytes(out)


def read_bundle_archive(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES
) -> Mapping[str, bytes]:
    """path → bytes of every file of a ``.tar.gz`` bundle; `InvalidManifest` names what is
    wrong with an archive that is not a plain bundle (`BundleLayout`)."""
    try:
        raw = _inflate(data, max_bytes)
    except zlib.error as exc:
        raise InvalidManifest(f"bundle: not a gzip archive ({exc})") from None
    layout = BundleLayout(max_bytes=max_bytes)
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            for member in archive:
                path = layout.admit(member.name, _member_kind(member), member.size)
                if path is None:
                    continue
                extracted = archive.extractfile(member)
                if extracted is None:  # pragma: no cover - regular files always extract
                    raise InvalidManifest(f"bundle: {path!r} cannot be read")
                files[path] = extracted.read()
    except (InvalidManifest, LimitExceeded):
        raise
    except (tarfile.TarError, ValueError, OverflowError, EOFError) as exc:
        # tarfile trusts header fields: a forged size or offset surfaces as ValueError
        # ("negative seek value") or OverflowError deep inside it (found by fuzzing).
        raise InvalidManifest(f"bundle: damaged tar archive ({exc})") from None
    return files


def write_bundle_archive(files: Mapping[str, bytes]) -> bytes:
    """The deterministic ``.tar.gz`` of ``files`` (path → bytes): the same bytes on every
    run for the same files (see the module docstring)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    compressor = zlib.compressobj(_COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(raw) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)
    return _GZIP_HEADER + body + trailer
