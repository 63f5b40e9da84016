"""Air-gap runtime bundles (SPEC §10)."""

from stella_signals.bundle._archive import DEFAULT_MAX_BUNDLE_BYTES, read_bundle_archive
from stella_signals.bundle._manifest import (
    MANIFEST_SCHEMA,
    BundleManifest,
    ManifestEntry,
    parse_manifest,
)

__all__ = [
    "DEFAULT_MAX_BUNDLE_BYTES",
    "MANIFEST_SCHEMA",
    "BundleManifest",
    "ManifestEntry",
    "parse_manifest",
    "read_bundle_archive",
]
