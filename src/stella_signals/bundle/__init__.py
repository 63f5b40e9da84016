"""Air-gap runtime bundles (SPEC §10)."""

from stella_signals.bundle._manifest import (
    MANIFEST_SCHEMA,
    BundleManifest,
    ManifestEntry,
    parse_manifest,
)

__all__ = ["MANIFEST_SCHEMA", "BundleManifest", "ManifestEntry", "parse_manifest"]
