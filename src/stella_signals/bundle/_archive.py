"""The one safe ``.tar.gz`` reader of both bundle kinds (`read_tar_gz`: air-gap runtime bundles
and Evidence Locker exports), and what a runtime bundle may hold (SPEC §10), one rule for a
``.tar.gz`` and a directory alike:
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
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from stella_signals.errors import InvalidManifest, LimitExceeded

__all__ = [
    "DEFAULT_MAX_BUNDLE_BYTES",
    "MAX_BUNDLE_ENTRIES",
    "ArchiveFault",
    "ArchiveUnreadable",
    "BundleLayout",
    "EntryKind",
    "TarContents",
    "TarEntry",
    "entry_kind_of_mode",
    "read_bundle_archive",
    "read_tar_gz",
    "write_bundle_archive",
]

DEFAULT_MAX_BUNDLE_BYTES = 1 << 30
#: Entries (files and directories) a bundle may hold.
MAX_BUNDLE_ENTRIES = 64
#: ID1 ID2, CM deflate, FLG none, MTIME 0, XFL 2 (max compression), OS 255 (unknown).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
_COMPRESS_LEVEL = 9
#: What tarfile raises for a damaged archive (names are decoded as it reads them; a forged
#: size or offset surfaces as ValueError or OverflowError deep inside it, found by fuzzing).
_TAR_ERRORS = (tarfile.TarError, UnicodeError, ValueError, OverflowError, EOFError)
_INFLATE_CHUNK = 1024 * 1024
_TAR_BLOCK = 512
#: Entry types whose data is stored as is after the header (sparse files are not).
_PLAIN_DATA = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)


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
    if member.type in _PLAIN_DATA:
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


class ArchiveFault(StrEnum):
    """Why `read_tar_gz` cannot read an archive at all."""

    CORRUPT_GZIP = "corrupt_gzip"
    TRUNCATED_GZIP = "truncated_gzip"
    TRAILING_DATA = "trailing_data"
    TOO_LARGE = "too_large"
    NOT_TAR = "not_tar"
    TOO_MANY_ENTRIES = "too_many_entries"


class ArchiveUnreadable(Exception):
    """`read_tar_gz` cannot read the archive: ``fault`` says why, ``detail`` what the gzip
    or tar reader said (empty when it said nothing). Each caller words it for its users."""

    def __init__(self, fault: ArchiveFault, detail: str = "") -> None:
        super().__init__(f"{fault.value}: {detail}" if detail else fault.value)
        self.fault = fault
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One tar header as read (never followed, never extracted) and, for a regular file
    whose data is all there, its bytes."""

    info: tarfile.TarInfo
    data: bytes | None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> EntryKind:
        return _member_kind(self.info)


@dataclass(frozen=True, slots=True)
class TarContents:
    """The entries of a ``.tar.gz`` in archive order; ``damage`` says why the tar does not
    end cleanly after them (a damaged header, truncation, data after the end), else None."""

    entries: tuple[TarEntry, ...]
    damage: str | None
    inflated_bytes: int


def read_tar_gz(data: bytes, *, max_bytes: int, max_entries: int) -> TarContents:
    """The one safe reader of both bundle kinds: one gzip member inflated chunk by chunk to
    at most ``max_bytes``, then at most ``max_entries`` tar headers read in memory. Raises
    `ArchiveUnreadable` when nothing can be read; what each entry may be is the caller's
    rule (`BundleLayout` for air-gap bundles, the Evidence Locker's own)."""
    raw = _inflate(data, max_bytes)
    try:
        tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")  # reads the first header
    except _TAR_ERRORS as exc:
        raise ArchiveUnreadable(ArchiveFault.NOT_TAR, str(exc)) from None
    members: list[tarfile.TarInfo] = []
    damage: str | None = None
    with tar:
        while True:
            try:
                member = tar.next()
            except _TAR_ERRORS as exc:
                damage = f"the tar archive is damaged after entry {len(members)}: {exc}"
                break
            if member is None:
                break
            if len(members) >= max_entries:
                raise ArchiveUnreadable(ArchiveFault.TOO_MANY_ENTRIES)
            members.append(member)
        end = tar.offset
    # tarfile stops quietly at a damaged header after the first: insist on a clean end.
    rest = raw[end:]
    if damage is None and (len(rest) < 2 * _TAR_BLOCK or rest.count(0) != len(rest)):
        damage = "the tar archive is truncated or has data after its last entry"
    entries = tuple(TarEntry(member, _data_of(member, raw)) for member in members)
    return TarContents(entries, damage, len(raw))


def _data_of(member: tarfile.TarInfo, raw: bytes) -> bytes | None:
    start = member.offset_data
    if member.type not in _PLAIN_DATA or start + member.size > len(raw):
        return None
    return raw[start : start + member.size]


def _inflate(data: bytes, limit: int) -> bytes:
    """One gzip member, inflated chunk by chunk and capped at ``limit`` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper: header + CRC check
    out = bytearray()
    pending = data
    try:
        while not inflater.eof:
            before = len(pending)
            chunk = inflater.decompress(pending, _INFLATE_CHUNK)
            pending = inflater.unconsumed_tail
            out += chunk
            if len(out) > limit:
                raise ArchiveUnreadable(ArchiveFault.TOO_LARGE)
            if not chunk and (not pending or len(pending) == before):
                break  # no progress: the input has ended (or stalled) before eof
    except zlib.error as exc:
        raise ArchiveUnreadable(ArchiveFault.CORRUPT_GZIP, str(exc)) from None
    if not inflater.eof:
        raise ArchiveUnreadable(ArchiveFault.TRUNCATED_GZIP)
    if inflater.unused_data:
        raise ArchiveUnreadable(ArchiveFault.TRAILING_DATA)
    return bytes(out)


#: How `read_bundle_archive` words each fault.
_BUNDLE_FAULTS = {
    ArchiveFault.CORRUPT_GZIP: "bundle: not a gzip archive ({detail})",
    ArchiveFault.TRUNCATED_GZIP: "bundle: truncated gzip stream",
    ArchiveFault.TRAILING_DATA: "bundle: data after the end of the gzip stream",
    ArchiveFault.NOT_TAR: "bundle: damaged tar archive ({detail})",
    ArchiveFault.TOO_MANY_ENTRIES: f"bundle: more than {MAX_BUNDLE_ENTRIES} entries",
}


def read_bundle_archive(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES
) -> Mapping[str, bytes]:
    """path → bytes of every file of a ``.tar.gz`` bundle; `InvalidManifest` names what is
    wrong with an archive that is not a plain bundle (`BundleLayout`)."""
    try:
        contents = read_tar_gz(data, max_bytes=max_bytes, max_entries=MAX_BUNDLE_ENTRIES)
    except ArchiveUnreadable as exc:
        if exc.fault is ArchiveFault.TOO_LARGE:
            raise LimitExceeded(
                f"bundle inflates past {max_bytes} bytes", limit="max_bundle_bytes"
            ) from None
        raise InvalidManifest(_BUNDLE_FAULTS[exc.fault].format(detail=exc.detail)) from None
    layout = BundleLayout(max_bytes=max_bytes)
    files: dict[str, bytes] = {}
    for entry in contents.entries:
        path = layout.admit(entry.name, entry.kind, entry.info.size)
        if path is None:
            continue
        if entry.data is None:
            raise InvalidManifest(f"bundle: damaged tar archive ({path!r} is truncated)")
        files[path] = entry.data
    if contents.damage is not None:
        raise InvalidManifest(f"bundle: damaged tar archive ({contents.damage})")
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
