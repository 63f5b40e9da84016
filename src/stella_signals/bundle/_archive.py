"""Runtime bundles packed as ``.tar.gz`` (SPEC §10), read into memory safely: regular files
only, plain relative names, no duplicates, every size capped while inflating."""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import PurePosixPath

from stella_signals.errors import InvalidManifest, LimitExceeded

__all__ = ["DEFAULT_MAX_BUNDLE_BYTES", "read_bundle_archive"]

DEFAULT_MAX_BUNDLE_BYTES = 1 << 30
_MAX_MEMBERS = 64


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
    wrong with an archive that is not a plain bundle."""
    try:
        raw = _inflate(data, max_bytes)
    except zlib.error as exc:
        raise InvalidManifest(f"bundle: not a gzip archive ({exc})") from None
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            for member in archive:
                if len(files) >= _MAX_MEMBERS:
                    raise InvalidManifest(f"bundle: more than {_MAX_MEMBERS} entries")
                name = member.name.removeprefix("./")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise InvalidManifest(f"bundle: {name!r} is not a regular file")
                pure = PurePosixPath(name)
                if pure.is_absolute() or ".." in pure.parts or not name:
                    raise InvalidManifest(f"bundle: entry {name!r} leaves the bundle")
                if name in files:
                    raise InvalidManifest(f"bundle: {name!r} appears twice")
                extracted = archive.extractfile(member)
                if extracted is None:  # pragma: no cover - regular files always extract
                    raise InvalidManifest(f"bundle: {name!r} cannot be read")
                files[name] = extracted.read()
    except InvalidManifest:
        raise
    except (tarfile.TarError, ValueError, OverflowError, EOFError) as exc:
        # tarfile trusts header fields: a forged size or offset surfaces as ValueError
        # ("negative seek value") or OverflowError deep inside it (found by fuzzing).
        raise InvalidManifest(f"bundle: damaged tar archive ({exc})") from None
    return files
