"""The probe manifest (SPEC §14, ``stella.probe-manifest/v1``) that travels with a trace:
parsed once, strictly, into a typed value; unknown fields are kept (a newer probe may add
some); every refusal names the field (an RFC 6901 pointer under ``probe_manifest``) and why."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stella_signals.errors import HashMismatch, InvalidField, LimitExceeded
from stella_signals.limits import DEFAULT_LIMITS, Limits
from stella_signals.wire import (
    MAX_SAFE_INTEGER,
    DuplicateKeyError,
    freeze,
    json_pointer,
    loads_strict,
    parse_rfc3339,
)

__all__ = [
    "PROBE_MANIFEST_PART",
    "PROBE_MANIFEST_SCHEMA",
    "ProbeManifest",
    "check_probe_manifest",
    "parse_probe_manifest",
]

PROBE_MANIFEST_SCHEMA = "stella.probe-manifest/v1"
#: The multipart part, and the field prefix of every refusal.
PROBE_MANIFEST_PART = "probe_manifest"
_MODES = frozenset({"targeted", "discovery"})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)
_COUNTS = ("pid", "targets_total", "targets_instrumented", "targets_pending", "dropped")
_KNOWN = frozenset({"schema", "mode", "window", "python", "container", "trace_sha256", *_COUNTS})


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeManifest:
    """What the probe says of one window; ``extra`` holds the fields this version does not
    read (frozen JSON), kept as sent."""

    mode: str
    window_start: datetime
    window_end: datetime
    python: str
    pid: int
    container: str | None
    targets_total: int
    targets_instrumented: int
    targets_pending: int
    dropped: int
    trace_sha256: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _refuse(message: str, *path: str | int, reason: str) -> InvalidField:
    return InvalidField(message, field=json_pointer(PROBE_MANIFEST_PART, *path)[1:], reason=reason)


def _string(doc: Mapping[str, Any], name: str, *, nullable: bool = False) -> str | None:
    if name not in doc:
        raise _refuse(f"probe manifest has no {name!r}", name, reason="missing_field")
    value = doc[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise _refuse(f"probe manifest {name!r} must be a string", name, reason="wrong_type")
    return value


def _count(doc: Mapping[str, Any], name: str) -> int:
    if name not in doc:
        raise _refuse(f"probe manifest has no {name!r}", name, reason="missing_field")
    value = doc[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise _refuse(f"probe manifest {name!r} must be an integer", name, reason="wrong_type")
    if not 0 <= value <= MAX_SAFE_INTEGER:
        raise _refuse(
            f"probe manifest {name!r} must be in 0..{MAX_SAFE_INTEGER}", name, reason="out_of_range"
        )
    return value


def _instant(window: Mapping[str, Any], name: str) -> datetime:
    if name not in window:
        raise _refuse(f"probe manifest window has no {name!r}", "window", name,
                      reason="missing_field")  # fmt: skip
    value = window[name]
    moment = parse_rfc3339(value) if isinstance(value, str) else None
    if moment is None:
        raise _refuse(f"probe manifest window {name!r} must be an RFC 3339 date-time",
                      "window", name, reason="invalid_timestamp")  # fmt: skip
    return moment


def parse_probe_manifest(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ProbeManifest:
    """``data`` as a probe manifest: `LimitExceeded` past ``max_probe_manifest_bytes``,
    `InvalidField` (field = pointer under ``probe_manifest``, reason) when malformed."""
    if len(data) > limits.max_probe_manifest_bytes:
        raise LimitExceeded(
            f"probe manifest of {len(data)} bytes is over {limits.max_probe_manifest_bytes}",
            limit="max_probe_manifest_bytes",
        )
    try:
        doc = loads_strict(data)
    except DuplicateKeyError as exc:
        raise _refuse(f"probe manifest repeats key {exc.key!r}", exc.key,
                      reason="duplicate_key") from None  # fmt: skip
    except (ValueError, UnicodeDecodeError) as exc:
        raise _refuse(f"probe manifest is not JSON: {exc}", reason="invalid_json") from None
    if not isinstance(doc, dict):
        raise _refuse("probe manifest must be a JSON object", reason="wrong_type")
    if _string(doc, "schema") != PROBE_MANIFEST_SCHEMA:
        raise _refuse(f"probe manifest schema must be {PROBE_MANIFEST_SCHEMA!r}", "schema",
                      reason="unsupported_schema")  # fmt: skip
    mode = _string(doc, "mode")
    if mode not in _MODES:
        raise _refuse("probe manifest mode must be 'targeted' or 'discovery'", "mode",
                      reason="invalid_value")  # fmt: skip
    window = doc.get("window")
    if not isinstance(window, dict):
        reason = "missing_field" if window is None else "wrong_type"
        raise _refuse("probe manifest window must be an object {start, end}", "window",
                      reason=reason)  # fmt: skip
    start, end = _instant(window, "start"), _instant(window, "end")
    if end < start:
        raise _refuse("probe manifest window ends before it starts", "window", "end",
                      reason="invalid_value")  # fmt: skip
    trace_sha256 = _string(doc, "trace_sha256", nullable=True)
    if trace_sha256 is not None and not _SHA256_HEX.fullmatch(trace_sha256):
        raise _refuse("probe manifest trace_sha256 must be 64 lower-case hex digits",
                      "trace_sha256", reason="invalid_digest")  # fmt: skip
    counts = {name: _count(doc, name) for name in _COUNTS}
    return ProbeManifest(
        mode=mode,
        window_start=start,
        window_end=end,
        python=_string(doc, "python") or "",
        container=_string(doc, "container", nullable=True),
        trace_sha256=trace_sha256,
        extra=freeze({k: v for k, v in doc.items() if k not in _KNOWN}),
        **counts,
    )


def check_probe_manifest(
    data: bytes, trace_sha256: str, *, limits: Limits = DEFAULT_LIMITS
) -> ProbeManifest:
    """The manifest in ``data``, which must describe the trace whose SHA-256 hex is given
    (`HashMismatch` otherwise: a manifest of another window proves nothing of this one)."""
    manifest = parse_probe_manifest(data, limits=limits)
    if manifest.trace_sha256 != trace_sha256:
        raise HashMismatch(
            f"probe manifest trace_sha256 is {manifest.trace_sha256}, the trace is {trace_sha256}"
        )
    return manifest
