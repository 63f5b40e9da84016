"""A small richgraph-v1 document to spoil in tests."""

from __future__ import annotations

import copy
import json
from typing import Any

BASE: dict[str, Any] = {
    "schema": "richgraph-v1",
    "analyzer": {"name": "scanner", "version": "1.2.0"},
    "nodes": [
        {
            "id": "n1",
            "symbol_id": "sym:python:main",
            "lang": "python",
            "kind": "function",
            "purl": "pkg:pypi/app@1.0.0",
            "evidence": ["static", "import"],
        },
        {
            "id": "n2",
            "symbol_id": "sym:python:parse",
            "lang": "python",
            "kind": "function",
            "purl": "pkg:pypi/lib@2.0.0",
            "code_id": "gnu-build-id:aa11",
        },
        {"id": "n3", "symbol_id": "sym:python:unused", "lang": "python", "kind": "function"},
    ],
    "edges": [
        {"from": "n1", "to": "n2", "kind": "call", "confidence": 0.9},
        {"from": "n2", "to": "n3", "kind": "call", "confidence": 0.5},
    ],
    "roots": [{"id": "n1", "phase": "runtime", "source": "entrypoint"}],
}


def graph(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def as_bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()
