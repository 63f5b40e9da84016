"""VEX documents from reachability verdicts (SPEC §15): OpenVEX 0.2.0 and CycloneDX 1.6,
deterministic RFC 8785 bytes, DSSE-signed by the service key. The core: no I/O."""

from stella_signals.vex._cyclonedx import CYCLONEDX_SERIAL_PREFIX, render_cyclonedx
from stella_signals.vex._openvex import OPENVEX_CONTEXT, OPENVEX_ID_PREFIX, render_openvex
from stella_signals.vex._render import render_vex
from stella_signals.vex._sign import (
    CYCLONEDX_PAYLOAD_TYPE,
    OPENVEX_PAYLOAD_TYPE,
    InvalidVex,
    VerifiedVex,
    VexFormat,
    sign_vex,
    verify_vex,
)
from stella_signals.vex._statements import (
    EmptyVex,
    VexStatement,
    VexStatus,
    status_of,
    vex_statements,
)

__all__ = [
    "CYCLONEDX_PAYLOAD_TYPE",
    "CYCLONEDX_SERIAL_PREFIX",
    "OPENVEX_CONTEXT",
    "OPENVEX_ID_PREFIX",
    "OPENVEX_PAYLOAD_TYPE",
    "EmptyVex",
    "InvalidVex",
    "VerifiedVex",
    "VexFormat",
    "VexStatement",
    "VexStatus",
    "render_cyclonedx",
    "render_openvex",
    "render_vex",
    "sign_vex",
    "status_of",
    "verify_vex",
    "vex_statements",
]
