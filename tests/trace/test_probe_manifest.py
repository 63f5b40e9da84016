"""The probe manifest parser (SPEC §14): strict, typed, limited; refusals name the field."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from stella_signals.errors import HashMismatch, InvalidField, LimitExceeded
from stella_signals.limits import Limits
from stella_signals.trace import check_probe_manifest, parse_probe_manifest
from tests.trace._lines import probe_manifest_doc

TRACE = b"trace bytes"
TRACE_SHA = hashlib.sha256(TRACE).hexdigest()


def manifest(**changes: Any) -> dict[str, Any]:
    return probe_manifest_doc(TRACE, records=7, counts="exact", **changes)


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_a_probe_manifest_is_typed_and_keeps_unknown_fields() -> None:
    parsed = check_probe_manifest(raw(manifest()), TRACE_SHA)
    assert parsed.mode == "targeted" and parsed.pid == 7 and parsed.container is None
    assert parsed.targets_pending == 1 and parsed.trace_sha256 == TRACE_SHA
    assert parsed.window_end.minute == 5
    assert dict(parsed.extra) == {"records": 7, "counts": "exact"}


def test_a_manifest_of_another_trace_is_a_hash_mismatch() -> None:
    with pytest.raises(HashMismatch, match="trace_sha256"):
        check_probe_manifest(raw(manifest(trace_sha256="0" * 64)), TRACE_SHA)
    with pytest.raises(HashMismatch):
        check_probe_manifest(raw(manifest(trace_sha256=None)), TRACE_SHA)


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (b"{not json", "probe_manifest", "invalid_json"),
        (b'{"mode": 1, "mode": 2}', "probe_manifest/mode", "duplicate_key"),
        (raw([1]), "probe_manifest", "wrong_type"),
        (raw(manifest(schema="other/v1")), "probe_manifest/schema", "unsupported_schema"),
        (raw(manifest(mode="everything")), "probe_manifest/mode", "invalid_value"),
        (raw(manifest(window=None)), "probe_manifest/window", "missing_field"),
        (
            raw(manifest(window={"start": "yesterday", "end": "2026-01-01T00:00:00Z"})),
            "probe_manifest/window/start",
            "invalid_timestamp",
        ),
        (
            raw(manifest(window={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"})),
            "probe_manifest/window/end",
            "invalid_value",
        ),
        (raw(manifest(pid="42")), "probe_manifest/pid", "wrong_type"),
        (raw(manifest(dropped=True)), "probe_manifest/dropped", "wrong_type"),
        (raw(manifest(targets_total=-1)), "probe_manifest/targets_total", "out_of_range"),
        (raw(manifest(trace_sha256="ABC")), "probe_manifest/trace_sha256", "invalid_digest"),
        (
            raw({k: v for k, v in manifest().items() if k != "python"}),
            "probe_manifest/python",
            "missing_field",
        ),
    ],
)
def test_a_malformed_manifest_is_refused_naming_field_and_reason(
    data: bytes, field: str, reason: str
) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_probe_manifest(data)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_a_manifest_past_its_limit_is_refused() -> None:
    data = raw(manifest())
    with pytest.raises(LimitExceeded) as caught:
        parse_probe_manifest(data, limits=Limits(max_probe_manifest_bytes=len(data) - 1))
    assert caught.value.limit == "max_probe_manifest_bytes"
    assert parse_probe_manifest(data, limits=Limits(max_probe_manifest_bytes=len(data)))
