"""Air-gap bundle manifest ``manifest.json`` (SPEC §10), parsed once at the edge."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import msgspec

from stella_signals.canonical import canonical_json
from stella_signals.digests import sha256_hex
from stella_signals.errors import HashMismatch, InvalidManifest
from stella_signals.strictjson import loads_strict
from stella_signals.wire import Problem

__all__ = [
    "BUNDLE_DSSE_NAME",
    "BUNDLE_GRAPH_NAME",
    "BUNDLE_PROBE_MANIFEST_NAME",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA",
    "BundleManifest",
    "FileEntry",
    "LayoutProblem",
    "ManifestEntry",
    "build_manifest",
    "parse_file_entry",
    "parse_manifest",
]

MANIFEST_SCHEMA = "stella.reach.runtime-bundle/v1"
#: The optional files of a runtime bundle (SPEC §10), at its root.
BUNDLE_DSSE_NAME = "runtime.dsse.json"
BUNDLE_GRAPH_NAME = "graph.richgraph.json"
#: The probe manifest of the trace's window (SPEC §14), in either bundle kind.
BUNDLE_PROBE_MANIFEST_NAME = "probe-manifest.json"
MANIFEST_NAME = "manifest.json"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_PATH = 4096


def parse_file_entry(value: object, where: str) -> FileEntry:
    """One item of the ``files`` array of either bundle kind's manifest.json, found at
    ``where``: ``path`` a non-empty string, ``sha256`` 64 lowercase hex digits, ``size`` an
    integer >= 0 (other members are ignored); `InvalidManifest` saying which is wrong."""
    if not isinstance(value, dict):
        raise InvalidManifest(f"{where}: must be an object")
    path, digest, size = value.get("path"), value.get("sha256"), value.get("size")
    if not isinstance(path, str) or not path:
        raise InvalidManifest(f"{where}.path: must be a non-empty string")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise InvalidManifest(f"{where}.sha256: must be 64 lowercase hex")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidManifest(f"{where}.size: must be an integer >= 0")
    return FileEntry(path, digest, size)


class _Manifest(msgspec.Struct, forbid_unknown_fields=False):
    schema: str
    tenant: str
    graph_hash: str
    generated_at: str
    files: list[Any]


@dataclass(frozen=True, slots=True, order=True)
class FileEntry:
    """One file of a bundle's listing, ``files[{path, sha256, size}]``: the same model for an
    air-gap bundle's manifest.json (SPEC §10) and an Evidence Locker bundle's (SPEC §8)."""

    path: str
    sha256: str
    size: int

    @classmethod
    def of(cls, path: str, data: bytes) -> FileEntry:
        """The entry of the file ``path`` holding ``data``."""
        return cls(path, sha256_hex(data), len(data))

    def to_dict(self) -> dict[str, str | int]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}

    def check(self, *, sha256: str, size: int) -> None:
        """Raise `HashMismatch` unless ``sha256`` and ``size`` are what this entry lists."""
        if sha256 != self.sha256:
            raise HashMismatch(
                f"{self.path}: sha256 is {sha256} but manifest.json lists {self.sha256}"
            )
        if size != self.size:
            raise HashMismatch(
                f"{self.path}: size is {size} bytes but manifest.json lists {self.size}"
            )


#: The entries of an air-gap bundle's manifest.json.
ManifestEntry = FileEntry


class LayoutProblem(Problem):
    """A bundle file that is not listed (``not_listed``), a listed one that is absent
    (``missing``), or one whose bytes or signature are wrong: the wire toolkit's `Problem`
    whose place is the file's ``path`` in the bundle, rendered as ``{path, reason, detail}``."""

    __slots__ = ()

    @property
    def path(self) -> str:
        return self.pointer

    @property
    def detail(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str | int | None]:
        return {"path": self.path, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class BundleManifest:
    tenant: str
    graph_hash: str
    generated_at: str
    files: tuple[ManifestEntry, ...]

    def listed(self, path: str) -> ManifestEntry | None:
        """The entry of the bundle file at ``path`` (relative to the bundle), if listed."""
        return next((e for e in self.files if e.path == path), None)

    def layout_problems(
        self, present: Collection[str], *, supplied: Collection[str] = ()
    ) -> list[LayoutProblem]:
        """What differs between the files a bundle holds (``present``, by path, the manifest
        aside) and the ones this manifest lists: every unlisted file, then every listed one
        absent; ``supplied`` are listed paths given from elsewhere (a file named on the
        command line), so not missing. The same rule for every bundle, tarball or directory."""
        listed = {entry.path for entry in self.files}
        problems = [
            LayoutProblem(path, "not_listed", "file not in manifest")
            for path in sorted(set(present) - listed - {MANIFEST_NAME})
        ]
        problems += [
            LayoutProblem(entry.path, "missing", "listed, absent")
            for entry in self.files
            if entry.path not in present and entry.path not in supplied
        ]
        return problems

    def entry_for(self, file_name: str) -> ManifestEntry:
        """The entry of a file given on the command line, matched by its base name."""
        base = PurePosixPath(file_name.replace("\\", "/")).name
        matches = [e for e in self.files if PurePosixPath(e.path).name == base]
        if not matches:
            raise HashMismatch(f"{base} is not listed in manifest.json", reason="hash_mismatch")
        if len(matches) > 1:
            raise InvalidManifest(f"manifest.json lists {base} more than once")
        return matches[0]


def _check_path(path: str) -> None:
    if len(path) > _MAX_PATH:
        raise InvalidManifest(f"manifest.json: a path is longer than {_MAX_PATH} characters")
    pure = PurePosixPath(path)
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        raise InvalidManifest(f"manifest.json: absolute path {path!r} is not allowed")
    if ".." in pure.parts or "\\" in path or path in (".", ""):
        raise InvalidManifest(f"manifest.json: path {path!r} leaves the bundle")
    if path == MANIFEST_NAME:
        raise InvalidManifest("manifest.json must not list itself")


def parse_manifest(data: bytes) -> BundleManifest:
    """``manifest.json`` bytes → `BundleManifest`, or `InvalidManifest` saying what is wrong."""
    try:
        raw = msgspec.convert(loads_strict(data), _Manifest, strict=True)
    except (ValueError, msgspec.ValidationError) as exc:
        raise InvalidManifest(f"manifest.json: {exc}") from None
    try:
        files = tuple(parse_file_entry(item, f"files[{i}]") for i, item in enumerate(raw.files))
    except InvalidManifest as exc:
        raise InvalidManifest(f"manifest.json: {exc}") from None
    if raw.schema != MANIFEST_SCHEMA:
        raise InvalidManifest(
            f"manifest.json: schema is {raw.schema!r}, expected {MANIFEST_SCHEMA!r}"
        )
    for entry in files:
        _check_path(entry.path)
    _no_duplicates(entry.path for entry in files)
    return BundleManifest(
        tenant=raw.tenant,
        graph_hash=raw.graph_hash,
        generated_at=raw.generated_at,
        files=files,
    )


def _no_duplicates(paths: Iterable[str]) -> None:
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise InvalidManifest(f"manifest.json lists {path!r} twice")
        seen.add(path)


def build_manifest(
    *, tenant: str, graph_hash: str, generated_at: str, files: Iterable[ManifestEntry]
) -> bytes:
    """The RFC 8785 bytes of the ``manifest.json`` listing ``files`` (sorted by path), which
    `parse_manifest` reads back; `InvalidManifest` for a path no bundle may hold."""
    entries = sorted(files, key=lambda entry: entry.path)
    for entry in entries:
        _check_path(entry.path)
    _no_duplicates(entry.path for entry in entries)
    data = canonical_json(
        {
            "schema": MANIFEST_SCHEMA,
            "tenant": tenant,
            "graph_hash": graph_hash,
            "generated_at": generated_at,
            "files": [entry.to_dict() for entry in entries],
        }
    )
    parse_manifest(data)  # what we write, we read
    return data
