"""Symbol manifests ``SYMBOL_MANIFEST/v1`` (SPEC §4): parse and validate, naming every problem."""

from stella_signals.symbols._manifest import (
    DEFAULT_MAX_BYTES,
    MAX_PROBLEMS,
    SYMBOL_MANIFEST_SCHEMA,
    InvalidSymbolManifest,
    ManifestProblem,
    ManifestReason,
    SourceKind,
    SymbolEntry,
    SymbolFormat,
    SymbolManifest,
    SymbolManifestReport,
    check_symbol_manifest,
    parse_symbol_manifest,
)
from stella_signals.wire import json_pointer

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_PROBLEMS",
    "SYMBOL_MANIFEST_SCHEMA",
    "InvalidSymbolManifest",
    "ManifestProblem",
    "ManifestReason",
    "SourceKind",
    "SymbolEntry",
    "SymbolFormat",
    "SymbolManifest",
    "SymbolManifestReport",
    "check_symbol_manifest",
    "json_pointer",
    "parse_symbol_manifest",
]
