"""Building blocks for trace tests: a good record and ways to spoil it."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

GOOD: dict[str, Any] = {
    "symbol_id": "sym:python:2u5Cv0Qe4uPc0d3lA8nXhYjz0Jk5b6hH6lH4N3wqfX0",
    "purl": "pkg:pypi/requests@2.31.0",
    "timestamp": "2026-01-01T00:00:00Z",
    "pid": 42,
    "container": "sha256:" + "ab" * 32,
    "count": 3,
}


def record(**changes: Any) -> dict[str, Any]:
    """GOOD with fields replaced; a value of ``...`` removes the field."""
    out = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def line(**changes: Any) -> bytes:
    return json.dumps(record(**changes), separators=(",", ":")).encode()


def ndjson(*lines: bytes, end: bytes = b"\n") -> bytes:
    return b"".join(item + end for item in lines)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def probe_manifest_doc(trace: bytes, **changes: Any) -> dict[str, Any]:
    """A probe manifest (``stella.probe-manifest/v1``, SPEC §14) of ``trace``'s window, with
    fields replaced or added."""
    return {
        "schema": "stella.probe-manifest/v1",
        "mode": "targeted",
        "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:05:00Z"},
        "python": "3.11.9",
        "pid": 7,
        "container": None,
        "targets_total": 3,
        "targets_instrumented": 2,
        "targets_pending": 1,
        "dropped": 0,
        "trace_sha256": hashlib.sha256(trace).hexdigest(),
        **changes,
    }


def probe_manifest(trace: bytes, **changes: Any) -> bytes:
    """`probe_manifest_doc` as the probe writes it (sorted keys, indented, a line end)."""
    return (
        json.dumps(probe_manifest_doc(trace, **changes), indent=2, sort_keys=True).encode() + b"\n"
    )
