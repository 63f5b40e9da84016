"""Air-gap runtime bundles (SPEC §10): the manifest, the one layout rule every bundle obeys
(tarball or directory), the check of a bundle's files against its manifest, and the
deterministic tarball writer."""

from stella_signals.bundle._archive import (
    DEFAULT_MAX_BUNDLE_BYTES,
    MAX_BUNDLE_ENTRIES,
    ArchiveFault,
    ArchiveUnreadable,
    BundleLayout,
    EntryKind,
    TarContents,
    TarEntry,
    entry_kind_of_mode,
    read_bundle_archive,
    read_tar_gz,
    write_bundle_archive,
)
from stella_signals.bundle._check import (
    HASH_MISMATCH,
    BundleFilesReport,
    attested_trace,
    check_bundle_files,
)
from stella_signals.bundle._manifest import (
    BUNDLE_DSSE_NAME,
    BUNDLE_GRAPH_NAME,
    BUNDLE_PROBE_MANIFEST_NAME,
    MANIFEST_NAME,
    MANIFEST_SCHEMA,
    BundleManifest,
    FileEntry,
    LayoutProblem,
    ManifestEntry,
    build_manifest,
    parse_file_entry,
    parse_manifest,
)

__all__ = [
    "BUNDLE_DSSE_NAME",
    "BUNDLE_GRAPH_NAME",
    "BUNDLE_PROBE_MANIFEST_NAME",
    "DEFAULT_MAX_BUNDLE_BYTES",
    "HASH_MISMATCH",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA",
    "MAX_BUNDLE_ENTRIES",
    "ArchiveFault",
    "ArchiveUnreadable",
    "BundleFilesReport",
    "BundleLayout",
    "BundleManifest",
    "EntryKind",
    "FileEntry",
    "LayoutProblem",
    "ManifestEntry",
    "TarContents",
    "TarEntry",
    "attested_trace",
    "build_manifest",
    "check_bundle_files",
    "entry_kind_of_mode",
    "parse_file_entry",
    "parse_manifest",
    "read_bundle_archive",
    "read_tar_gz",
    "write_bundle_archive",
]
