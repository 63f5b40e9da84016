"""Evidence Locker core (SPEC §8): deterministic bundle export and offline verification.

Pure functions over bytes: `export_bundle` turns an `EvidenceRecord` into a reproducible
``.tar.gz``; `check_bundle` reports on one (never raising for a bad bundle) and
`verify_bundle` raises `BundleInvalid` from that report. `export_vex_bundle` and
`read_vex_bundle`: the bundle of a VEX document with the evidence to re-derive it.
"""

from stella_signals.locker._bundle import (
    BUNDLE_SCHEMA,
    CHECKSUMS_NAME,
    DEFAULT_MAX_EXTRACTED_BYTES,
    DEFAULT_MAX_MEMBERS,
    MANIFEST_NAME,
    PROBE_MANIFEST_NAME,
    RECEIPT_DSSE_NAME,
    RECEIPT_NAME,
    RECEIPT_SCHEMA,
    RUNTIME_DSSE_NAME,
    SOURCE_MANIFEST_NAME,
    BundleCheck,
    BundleFile,
    BundleInvalid,
    BundleProblem,
    BundleReport,
    CheckResult,
    EvidenceRecord,
    ProblemKind,
    check_bundle,
    default_trace_name,
    export_bundle,
    verify_bundle,
)
from stella_signals.locker._vex_bundle import (
    VEX_BUNDLE_SCHEMA,
    VexBundle,
    VexBundleIngest,
    export_vex_bundle,
    read_vex_bundle,
)

__all__ = [
    "BUNDLE_SCHEMA",
    "CHECKSUMS_NAME",
    "DEFAULT_MAX_EXTRACTED_BYTES",
    "DEFAULT_MAX_MEMBERS",
    "MANIFEST_NAME",
    "PROBE_MANIFEST_NAME",
    "RECEIPT_DSSE_NAME",
    "RECEIPT_NAME",
    "RECEIPT_SCHEMA",
    "RUNTIME_DSSE_NAME",
    "SOURCE_MANIFEST_NAME",
    "VEX_BUNDLE_SCHEMA",
    "BundleCheck",
    "BundleFile",
    "BundleInvalid",
    "BundleProblem",
    "BundleReport",
    "CheckResult",
    "EvidenceRecord",
    "ProblemKind",
    "VexBundle",
    "VexBundleIngest",
    "check_bundle",
    "default_trace_name",
    "export_bundle",
    "export_vex_bundle",
    "read_vex_bundle",
    "verify_bundle",
]
