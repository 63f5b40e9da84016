"""Directory bundles (SPEC §10) read from the filesystem under the very rule a ``.tar.gz``
bundle obeys (`stella_signals.bundle.BundleLayout`): every entry is judged by ``lstat``,
never through a link, so a symlink (to a file outside the bundle, a device, anything), a
device, a FIFO or a socket is refused by name instead of being followed or skipped."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from stella_signals.bundle import (
    DEFAULT_MAX_BUNDLE_BYTES,
    BundleLayout,
    EntryKind,
    entry_kind_of_mode,
)
from stella_signals.errors import InvalidManifest

__all__ = ["directory_bundle_paths", "read_bundle_directory"]


def directory_bundle_paths(root: Path, *, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES) -> list[str]:
    """The bundle paths (relative, ``/``-separated, sorted walk) of the regular files of the
    bundle directory ``root``; `InvalidManifest` for any entry a bundle may not hold."""
    layout = BundleLayout(max_bytes=max_bytes)

    def walk(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as found:
            entries = sorted(found, key=lambda entry: entry.name)
        for entry in entries:
            name = prefix + entry.name
            status = entry.stat(follow_symlinks=False)
            kind = entry_kind_of_mode(status.st_mode)
            layout.admit(name, kind, status.st_size if kind is EntryKind.FILE else 0)
            if kind is EntryKind.DIRECTORY:
                walk(Path(entry.path), name + "/")

    walk(root, "")
    return layout.paths


def read_bundle_directory(
    root: Path, *, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES
) -> dict[str, bytes]:
    """path → bytes of every file of the bundle directory ``root`` (`directory_bundle_paths`)."""
    return {
        path: read_regular_file(root / path)
        for path in directory_bundle_paths(root, max_bytes=max_bytes)
    }


def read_regular_file(path: Path) -> bytes:
    """The bytes of ``path`` if it is still a regular file when opened: never through a
    final symlink, never blocking on a FIFO swapped in after the walk."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidManifest(f"bundle: {path} is no longer a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)
