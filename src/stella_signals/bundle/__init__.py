"""Air-gap runtime bundles (SPEC §10)."""

from stella_signals.bundle._archive import DEFAULT_MAX_BUNDLE_BYTES, read_bundle_archive
from stella_signals.bundle._manifest import (
    BUNDLE_DSSE_NAME,
    BUNDLE_GRAPH_NAME,
    MANIFEST_SCHEMA,
    BundleManifest,
    ManifestEntry,
    parse_manifest,
)

__all__ = [
    "BUNDLE_DSSE_NAME",
    "BUNDLE_GRAPH_NAME",
    "DEFAULT_MAX_BUNDLE_BYTES",
    "MANIFEST_SCHEMA",
    "BundleManifest",
    "ManifestEntry",
    "parse_manifest",
    "read_bundle_archive",
]
