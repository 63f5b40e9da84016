"""JSON Schemas of what the routes answer and take, for their OpenAPI ``responses=`` and
request bodies: the published document describes every success body and header, so a client
(and the API fuzzing, ``reliability/api_fuzz.py``) can check each answer against it.

Objects list their required fields and leave others open: a field added later is not a
breaking change for a reader that ignores unknown fields.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from stella_signals.api._multipart import MULTIPART
from stella_signals.api._problems import COMMON_RESPONSES, PROBLEM
from stella_signals.digests import sha256_hex
from stella_signals.receipt import RECEIPT_SCHEMA

__all__ = [
    "COVERAGE",
    "DSSE_ENVELOPE",
    "EVALUATION",
    "EVENT",
    "EVENT_PAGE",
    "EVIDENCE",
    "EVIDENCE_IMPORT",
    "GRAPH_CREATED",
    "GRAPH_HASH",
    "GRAPH_HASH_PATTERN",
    "GRAPH_RECORD",
    "HEALTH",
    "INGEST_PAGE",
    "INGEST_VIEW",
    "KEY_ADDED",
    "KEY_PAGE",
    "POLICY",
    "READY",
    "RECEIPT",
    "RUNTIME_EDGE_PAGE",
    "RUNTIME_PAGE",
    "SERVICE_KEYS",
    "SHA256_HEX",
    "SYMBOLS_STORED",
    "TIMELINE_IMPORT",
    "TIME_STATUS",
    "TOKEN",
    "TOKEN_CREATED",
    "TOKEN_PAGE",
    "TOKEN_REQUEST",
    "ULID",
    "ULID_PATTERN",
    "UNKNOWN",
    "UNKNOWN_PAGE",
    "VERDICT",
    "VERDICT_HISTORY_PAGE",
    "VERDICT_PAGE",
    "VERIFY_REPORT",
    "VEX_PAGE",
    "binary_body",
    "header",
    "json_body",
    "json_response",
    "tar_gz_download",
    "tar_gz_response",
]

#: SPEC §1: a graph hash; routes also take the bare hex (taken as blake3).
GRAPH_HASH_PATTERN = "^(blake3:)?[0-9a-f]{64}$"
#: Canonical ULID: 26 upper-case Crockford base32 characters starting with 0-7.
ULID_PATTERN = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$"

_STR: dict[str, Any] = {"type": "string"}
_NULLABLE_STR: dict[str, Any] = {"type": ["string", "null"]}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_NULLABLE_COUNT: dict[str, Any] = {"type": ["integer", "null"], "minimum": 0}
_NUMBER_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
_BOOL: dict[str, Any] = {"type": "boolean"}
ULID: dict[str, Any] = {"type": "string", "pattern": ULID_PATTERN}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
GRAPH_HASH: dict[str, Any] = {"type": "string", "pattern": "^blake3:[0-9a-f]{64}$"}
SHA256_HEX: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_SHA256: dict[str, Any] = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}
_NULLABLE_SHA256: dict[str, Any] = {"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$"}
_CAS_URI: dict[str, Any] = {"type": "string", "pattern": "^cas://"}
_PAGE_TOKEN: dict[str, Any] = {
    "type": ["string", "null"],
    "description": "pass as page_token for the next page; null on the last page",
}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": required | (optional or {}),
    }


def _page(item: dict[str, Any], **extra: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {"items": {"type": "array", "items": item}, "next_page_token": _PAGE_TOKEN} | extra
    )


DSSE_ENVELOPE = _object(
    {
        "payloadType": _STR,
        "payload": {"type": "string", "contentEncoding": "base64"},
        "signatures": {"type": "array", "items": _object({"keyid": _STR, "sig": _STR})},
    }
)

#: SPEC §8: the ingest receipt (``receipt_dsse``: its DSSE envelope, on ingest answers;
#: ``version`` and ``supersedes`` on a receipt that replaced an earlier version).
RECEIPT = _object(
    {
        "schema": {"const": RECEIPT_SCHEMA},
        "ingest_id": ULID,
        "tenant": _STR,
        "status": {"enum": ["ingested", "orphaned", "expired"]},
        "duplicate": _BOOL,
        "received_at": _TIME,
        "content_sha256": SHA256_HEX,
        "cas_uri": _CAS_URI,
        "graph_hash": GRAPH_HASH,
        "dsse_digest": _NULLABLE_STR,
        "counts": _object(
            {
                "lines": _COUNT,
                "records": _COUNT,
                "unique_symbols": _COUNT,
                "mapped_symbols": _NULLABLE_COUNT,
                "unmapped_symbols": _NULLABLE_COUNT,
                "edges_confirmed": _NULLABLE_COUNT,
            }
        ),
        "time": _object(
            {
                "mode": {"enum": ["anchor", "ntp", "system"]},
                "anchor_time": _NULLABLE_TIME,
                "staleness_seconds": _NUMBER_OR_NULL,
                "drift_ms": _NUMBER_OR_NULL,
            }
        ),
        "timeline_event_id": ULID,
    },
    {
        "receipt_dsse": DSSE_ENVELOPE,
        "version": {
            "type": "integer",
            "minimum": 2,
            "description": "receipt version, on a receipt that superseded another (a DSSE "
            "envelope attached later, an orphan's retry); absent on the first (version 1)",
        },
        "supersedes": _SHA256
        | {
            "description": "sha256 of the signed receipt envelope this one replaced, kept at "
            "cas://evidence/receipts/<hex>"
        },
    },
)

#: An ingest that has no receipt: refused (``failed``), with the reason.
_REFUSED_INGEST = _object(
    {
        "ingest_id": ULID,
        "tenant": _STR,
        "status": {"const": "failed"},
        "received_at": _TIME,
        "reason": _NULLABLE_STR,
        "detail": _NULLABLE_STR,
        "content_sha256": {"type": ["string", "null"]},
        "graph_hash": _NULLABLE_STR,
    }
)
INGEST_VIEW: dict[str, Any] = {"anyOf": [RECEIPT, _REFUSED_INGEST]}
INGEST_PAGE = _page(INGEST_VIEW)

GRAPH_CREATED = _object(
    {
        "graph_hash": GRAPH_HASH,
        "cas_uri": _CAS_URI,
        "nodes": _COUNT,
        "edges": _COUNT,
        "created": _BOOL,
    }
)
GRAPH_RECORD = _object(
    {
        "graph_hash": GRAPH_HASH,
        "cas_uri": _CAS_URI,
        "size": _COUNT,
        "nodes": _COUNT,
        "edges": _COUNT,
        "created_at": _TIME,
        "dsse_digest": _NULLABLE_SHA256,
        "dsse_uri": {"type": ["string", "null"], "pattern": "^cas://"},
    }
)

#: SPEC §9: the flat graph verify report.
VERIFY_REPORT = _object(
    {
        "graph_hash": _STR,
        "graph_hash_ok": _BOOL,
        "records": _COUNT,
        "unique_symbols": _COUNT,
        "mapped_symbols": _COUNT,
        "unmapped_symbols": _COUNT,
        "unmapped": {
            "type": "array",
            "items": _object({"symbol_id": _STR, "purl": _NULLABLE_STR, "count": _COUNT}),
        },
        "purl_mismatches": {
            "type": "array",
            "items": _object(
                {"symbol_id": _STR, "trace_purl": _NULLABLE_STR, "graph_purl": _NULLABLE_STR}
            ),
        },
        "nodes_total": _COUNT,
        "nodes_observed": _COUNT,
        "edges_total": _COUNT,
        "edges_confirmed": _COUNT,
        "roots_total": _COUNT,
        "roots_observed": _COUNT,
        "edges_observed": _COUNT,
        "unexpected_edges": {
            "type": "array",
            "items": _object({"caller_symbol_id": _STR, "symbol_id": _STR, "count": _COUNT}),
        },
    }
)

SYMBOLS_STORED = _object({"cas_uri": _CAS_URI, "sha256": SHA256_HEX, "entries": _COUNT})

#: SPEC §7: a timeline event, every field, exactly as hashed.
EVENT = _object(
    {
        "event_id": ULID,
        "seq": {"type": "integer", "minimum": 1},
        "event_type": _STR,
        "tenant": _STR,
        "occurred_at": _TIME,
        "source": _STR,
        "correlation_id": _NULLABLE_STR,
        "attributes": {"type": "object"},
        "prev_hash": _NULLABLE_SHA256,
        "hash": _SHA256,
    }
)
EVENT_PAGE = _page(EVENT)
TIMELINE_IMPORT = _object({"appended": _COUNT, "skipped": _COUNT, "keyid": {"type": "string"}})

SERVICE_KEYS = _object(
    {
        "keys": {
            "type": "array",
            "items": _object(
                {
                    "keyid": _STR,
                    "public_key_pem": _STR,
                    "status": {"enum": ["current", "retired"]},
                    "created_at": _TIME,
                    "retired_at": _NULLABLE_TIME,
                }
            ),
        }
    }
)
TIME_STATUS = _object(
    {
        "mode": {"enum": ["anchor", "ntp", "system"]},
        "trusted": _BOOL,
        "source": _NULLABLE_STR,
        "checked_at": _NULLABLE_TIME,
        "anchor_time": _NULLABLE_TIME,
        "staleness_seconds": _NUMBER_OR_NULL,
        "drift_ms": _NUMBER_OR_NULL,
        "blocked": _BOOL,
        "reason": _NULLABLE_STR,
        "retry_after_seconds": _NULLABLE_COUNT,
        "message": _STR,
    }
)

_TRUSTED_KEY = _object(
    {
        "keyid": _STR,
        "purpose": {"enum": ["attest", "time", "receipt"]},
        "public_key_pem": _STR,
        "added_at": _TIME,
        "revoked_at": _NULLABLE_TIME,
    }
)
KEY_PAGE = _page(_TRUSTED_KEY)
KEY_ADDED = _object({"keyid": _STR, "purpose": {"enum": ["attest", "time", "receipt"]}})
_SCOPE: dict[str, Any] = {"enum": ["signals:read", "signals:write", "signals:admin"]}
_TOKEN_FIELDS: dict[str, Any] = {
    "token_id": ULID,
    "tenants": {"type": "array", "items": _STR},
    "scopes": {"type": "array", "items": _SCOPE},
    "created_at": _TIME,
    "expires_at": _NULLABLE_TIME,
    "revoked_at": _NULLABLE_TIME,
}
#: A token as listed: its public id, never its secret nor its hash.
TOKEN = _object(_TOKEN_FIELDS | {"status": {"enum": ["active", "expired", "revoked"]}})
TOKEN_PAGE = _page(TOKEN)
#: The one answer that carries the secret: to `POST /api/v1/tokens`, once.
TOKEN_CREATED = _object(_TOKEN_FIELDS | {"token": {"type": "string", "pattern": "^stl_"}})
TOKEN_REQUEST = {
    **_object(
        {"scopes": {"type": "array", "items": _SCOPE, "minItems": 1}},
        {
            "expires_in": {
                "type": "string",
                "pattern": "^([0-9]{1,9}[wdhms])+$",
                "description": "a duration: 90d, 12h, 1h30m, 3600s, 2w",
            },
            "expires_at": {**_TIME, "description": "RFC 3339 with Z or an offset"},
        },
    ),
    "additionalProperties": False,
}
POLICY = {
    **_object(
        {"require_dsse": _BOOL},
        {"dsse_threshold": {"type": "integer", "minimum": 1, "maximum": 16, "default": 1}},
    ),
    "additionalProperties": False,
}

_EVIDENCE_FILE = _object({"path": _STR, "sha256": SHA256_HEX, "size": _COUNT})
EVIDENCE = _object(
    {
        "ingest_id": ULID,
        "tenant": _STR,
        "receipt": RECEIPT,
        "files": {"type": "array", "items": _EVIDENCE_FILE},
        "bundle": _STR,
    }
)
EVIDENCE_IMPORT = _object({"ingest_id": ULID, "imported": _BOOL})

_RUNTIME_NODE = _object(
    {
        "node": _STR,
        "symbol_id": {**_STR, "minLength": 1, "description": "the graph node's symbol_id"},
        "purl": _NULLABLE_STR,
        "observed": _BOOL,
        "hits": _COUNT,
        "first_seen": _NULLABLE_TIME,
        "last_seen": _NULLABLE_TIME,
        "containers": {"type": "array", "items": _STR},
        "ingest_ids": {"type": "array", "items": ULID},
    }
)
_RUNTIME_EDGE = _object(
    {
        "caller_symbol_id": {**_STR, "description": "the trace's caller_symbol_id"},
        "symbol_id": {**_STR, "description": "the trace's symbol_id (the callee)"},
        "caller_node": {**_NULLABLE_STR, "description": "graph node of the caller, or null"},
        "callee_node": {**_NULLABLE_STR, "description": "graph node of the callee, or null"},
        "in_graph": {**_BOOL, "description": "false: an unexpected edge (SPEC §9)"},
        "count": _COUNT,
        "ingest_ids": {"type": "array", "items": ULID},
    }
)
RUNTIME_PAGE = _page(_RUNTIME_NODE, graph_hash=GRAPH_HASH)
RUNTIME_EDGE_PAGE = _page(_RUNTIME_EDGE, graph_hash=GRAPH_HASH, view={"const": "edges"})
COVERAGE = _object(
    {
        "graph_hash": GRAPH_HASH,
        "nodes_observed": _COUNT,
        "nodes_total": _COUNT,
        "edges_confirmed": _COUNT,
        "edges_total": _COUNT,
        "by_purl": {
            "type": "array",
            "items": _object(
                {"purl": _NULLABLE_STR, "nodes_observed": _COUNT, "nodes_total": _COUNT}
            ),
        },
    }
)

# -- reachability verdicts (SPEC §15) --------------------------------------------------------
_STATE: dict[str, Any] = {"enum": ["U", "SR", "SU", "RO", "RU", "CR", "CU", "X"]}
_STRINGS: dict[str, Any] = {"type": "array", "items": _STR}
_WINDOW = _object({"start": _NULLABLE_TIME, "end": _NULLABLE_TIME})
VERDICT = _object(
    {
        "vuln_id": _STR,
        "package": _STR,
        "symbol": _STR,
        "state": _STATE,
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "path": _STRINGS,
        "runtime": _object(
            {
                "hits": _COUNT,
                "first_seen": _NULLABLE_TIME,
                "last_seen": _NULLABLE_TIME,
                "ingest_ids": _STRINGS,
            }
        ),
        "window": _WINDOW,
        "graph_hash": _STR,
        "evidence_digests": {"type": "array", "items": _SHA256},
        "computed_at": _TIME,
    },
    {"aliases": _STRINGS, "fixed": _STRINGS, "path_display": _STRINGS},
)
UNKNOWN = _object(
    {
        "kind": {
            "enum": ["target_not_scanned", "unmapped_symbol", "unexpected_edge", "disagreement"]
        },
        "graph_hash": _STR,
        "symbol": _STR,
        "detail": _STR,
    },
    {"vuln_id": _NULLABLE_STR, "purl": _NULLABLE_STR, "ingest_ids": _STRINGS},
)
_VEX_REF = _object(
    {"id": ULID, "format": {"enum": ["openvex", "cyclonedx"]}, "sha256": SHA256_HEX, "url": _STR},
    {"dsse_url": _STR, "bundle_url": _STR, "cas_uri": _CAS_URI, "dsse_uri": _CAS_URI},
)
EVALUATION = _object(
    {
        "evaluation_id": ULID,
        "graph_hash": GRAPH_HASH,
        "catalog_digest": _SHA256,
        "window": _WINDOW,
        "computed_at": _TIME,
        "verdicts": {"type": "array", "items": VERDICT},
        "unknowns": {"type": "array", "items": UNKNOWN},
        "evidence_digests": {"type": "array", "items": _SHA256},
        "vex": {"type": "array", "items": _VEX_REF},
    },
    {
        "manifest_digests": {"type": "array", "items": _SHA256},
        "since": _NULLABLE_TIME,
        "ingest_ids": _STRINGS,
        "changes": {"type": "array", "items": {"type": "object"}},
    },
)
VERDICT_PAGE = _page(
    {
        **VERDICT,
        "required": [*VERDICT["required"], "verdict_id", "catalog_digest", "evaluation_id"],
        "properties": VERDICT["properties"]
        | {"verdict_id": _STR, "catalog_digest": _SHA256, "evaluation_id": ULID,
           "changed_at": _TIME},
    }
)  # fmt: skip
_CHANGE = _object(
    {
        "graph_hash": GRAPH_HASH,
        "catalog_digest": _SHA256,
        "vuln_id": _STR,
        "package": _STR,
        "symbol": _STR,
        "from": {"oneOf": [_STATE, {"type": "null"}]},
        "to": _STATE,
        "at": _TIME,
        "evaluation_id": ULID,
        "event_id": {"type": ["string", "null"]},
    }
)
VERDICT_HISTORY_PAGE = _page(_CHANGE)
UNKNOWN_PAGE = _page(
    {
        **UNKNOWN,
        "required": [*UNKNOWN["required"], "catalog_digest", "evaluation_id"],
        "properties": UNKNOWN["properties"] | {"catalog_digest": _SHA256, "evaluation_id": ULID},
    }
)
VEX_PAGE = _page(
    _object(
        {
            "id": ULID,
            "format": {"enum": ["openvex", "cyclonedx"]},
            "sha256": SHA256_HEX,
            "graph_hash": GRAPH_HASH,
            "catalog_digest": _SHA256,
            "created_at": _TIME,
            "url": _STR,
        }
    )
)

HEALTH = _object({"status": {"const": "ok"}, "version": _STR})
READY = _object({"status": {"enum": ["ready", "unavailable"]}}, {"detail": _STR})


def header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A response header that is always sent."""
    return {"description": description, "required": True, "schema": schema or _STR}


def json_response(
    schema: dict[str, Any], description: str, *, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An OpenAPI response object: a JSON body of ``schema``."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def stored_responses(
    schema: dict[str, Any],
    *,
    created: str,
    existing: str,
    headers: dict[str, Any] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The responses of a POST that stores a thing once: 201 ``created``, 200 ``existing``
    (the same thing again: nothing new), both a JSON body of ``schema``; 413 over its size
    limit; and the problems every authenticated route has."""
    return COMMON_RESPONSES | {
        200: json_response(schema, existing, headers=headers),
        201: json_response(schema, created, headers=headers),
        413: PROBLEM,
    }


def json_body(schema: dict[str, Any] | None = None, *, description: str = "") -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON request body (the routes read it raw)."""
    body: dict[str, Any] = {
        "required": True,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


def multipart_with_dsse(main: str, *optional: str) -> dict[str, Any]:
    """The ``multipart/form-data`` content of an upload: the required part ``main``, an
    optional ``dsse`` envelope part (traces and graphs alike) and the ``optional`` parts."""
    part = {"type": "string", "format": "binary"}
    return {
        MULTIPART: {
            "schema": {
                "type": "object",
                "required": [main],
                "properties": {main: part, "dsse": part, **dict.fromkeys(optional, part)},
            }
        }
    }


def binary_body(*media_types: str, description: str = "") -> dict[str, Any]:
    """``openapi_extra`` declaring a required raw request body of one of ``media_types``."""
    content = {media: {"schema": {"type": "string", "format": "binary"}} for media in media_types}
    body: dict[str, Any] = {"required": True, "content": content}
    if description:
        body["description"] = description
    return {"requestBody": body}


def tar_gz_response(name: str) -> dict[str, Any]:
    """An OpenAPI response object: a bundle download ``<name>-<id>.tar.gz`` (`tar_gz_download`)."""
    return {
        "description": "the bundle (tar.gz)",
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            "Content-SHA256": header("hex SHA-256 of the bundle", SHA256_HEX),
            "Content-Disposition": header(f"attachment; filename={name}-<id>.tar.gz"),
        },
    }


def tar_gz_download(data: bytes, name: str, object_id: str) -> Response:
    """A bundle as an attachment ``<name>-<object_id>.tar.gz`` with its ``Content-SHA256``."""
    return Response(
        data,
        media_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{object_id}.tar.gz"',
            "Content-SHA256": sha256_hex(data),
        },
    )
