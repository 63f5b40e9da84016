"""API fuzzing (issue #9, item 2): schemathesis against the app's own ``/openapi.json``.

A real app (embedded default: SQLite + filesystem CAS in a scratch data dir), a token with
every scope for tenant ``acme`` sent on every case, a graph, a trace ingest, a symbol
manifest and a trusted key already in place. For every operation of the document:

* ``coverage`` — schemathesis's deterministic coverage cases: boundary values, each
  parameter missing or of the wrong type, methods the path does not take (405 + Allow);
* ``positive`` — Hypothesis cases that match the documented parameters and bodies;
* ``negative`` — cases that break them (schemathesis mutations, auth headers included);
* ``seeded``   — positive cases whose ids and hashes name the seeded objects, so the
  success paths answer too;
* ``explicit`` — fixed bodies a route must accept or refuse: wrong media type, bad JSON, a
  bad trace, a corrupt gzip, a multipart upload without its part, a digest mismatch, a
  private key where a public one belongs... each with the status it must get.

Every response goes through schemathesis's checks: ``not_a_server_error``,
``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance``
``response_headers_conformance`` and, on coverage cases, ``unsupported_method`` (an exception
out of the app counts as a 500).

    python reliability/api_fuzz.py [--examples N] [--seed S] [--out FILE]

writes ``reliability/results/api_fuzz.json`` (operations covered, cases generated, failures
by check, statuses seen per operation) and exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import schemathesis  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core import NOT_SET  # noqa: E402
from schemathesis.core.failures import Failure, FailureGroup  # noqa: E402
from schemathesis.python import asgi as schemathesis_asgi  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from starlette.testclient import TestClient  # noqa: E402

from stella_signals.api import create_app  # noqa: E402
from stella_signals.api._admin import MAX_PEM_BYTES, MAX_POLICY_BYTES  # noqa: E402
from stella_signals.api._pagination import encode_token  # noqa: E402
from stella_signals.api._tokens import MAX_TOKEN_REQUEST_BYTES  # noqa: E402
from stella_signals.auth import token_hash  # noqa: E402
from stella_signals.limits import KiB, Limits  # noqa: E402
from stella_signals.wiring import Services, load_settings  # noqa: E402
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes  # noqa: E402
from tests.realservers.backends import grant_tokens  # noqa: E402
from tests.symbols.test_symbol_manifest import valid_manifest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TENANT = "acme"
ALL_SCOPES = ("signals:read", "signals:write", "signals:admin")
GRAPH_SPEC = SynthSpec(300, seed=21, symbols=60, purls=6)
OTHER_GRAPH_SPEC = SynthSpec(200, seed=22, symbols=40, purls=4)
#: Small limits, so every "too large" refusal is cheap to reach (the seeds fit well within).
LIMITS = Limits(
    max_compressed_bytes=128 * KiB,
    max_graph_bytes=256 * KiB,
    max_symbol_manifest_bytes=32 * KiB,
)
CHECKS: dict[str, Callable[..., Any]] = {
    "not_a_server_error": not_a_server_error,
    "status_code_conformance": status_code_conformance,
    "content_type_conformance": content_type_conformance,
    "response_schema_conformance": response_schema_conformance,
    "response_headers_conformance": response_headers_conformance,
    # coverage cases only: a method the path does not take is 405 with an Allow header
    "unsupported_method": unsupported_method,
}
#: What a failure can be: a check, an explicit case's expectation, or case generation.
FAILURE_KINDS = (*CHECKS, "expected_status", "generation")
#: Failure details kept per (operation, check): enough to reproduce, not a flood.
MAX_DETAILS = 5

# Raw bodies the document declares as binary: sent as the bytes generated.
schemathesis.serializer.alias(
    ["application/x-ndjson", "application/gzip", "application/x-gzip", "application/x-pem-file"],
    "application/octet-stream",
)


# -- the app ------------------------------------------------------------------------------
@dataclass
class LiveApp:
    """A real app over opened services, and the bearer tokens granted on it (by name)."""

    app: FastAPI
    services: Services
    tokens: dict[str, str]
    data_dir: Path

    def revoke(self, name: str) -> None:
        """Revoke a token as ``signals tokens revoke`` does."""
        repo = self.services.repo
        record = repo.find_token(token_hash(self.tokens[name]))
        if record is None:
            raise KeyError(name)
        repo.revoke_token(record.token_id, tenant=None, at=self.services.clock.now())


@contextmanager
def open_app(
    data_dir: Path,
    grants: Mapping[str, tuple[Iterable[str], Iterable[str]]],
    *,
    limits: Limits | None = None,
) -> Iterator[LiveApp]:
    """The app on a fresh embedded data dir, with one token per ``name -> (tenants, scopes)``
    created through the repository as ``signals tokens create`` does (`grant_tokens`, which
    tests/api/conftest.py uses too)."""
    settings_ = load_settings(data_dir=data_dir, environ={}, orphan_retry_seconds=0)
    if limits is not None:
        settings_ = replace(settings_, limits=limits)
    services = Services.open(settings_)
    try:
        yield LiveApp(create_app(services), services, grant_tokens(services, grants), data_dir)
    finally:
        # schemathesis starts an app's lifespan once and keeps it (its background loops
        # included) running until the process exits: stop it with the app, so that nothing of
        # this run goes on working in a test process that runs other tests afterwards.
        schemathesis_asgi.shutdown_lifespans()
        services.close()


def write_result(name: str, result: Mapping[str, Any], out: Path | None = None) -> Path:
    """Write a run's result, stamped with the commit it ran at (a run may be repeated alone,
    after `make reliability`, and docs/reliability.md then says so)."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamped = {**result, "commit": _head_commit()}
    path.write_text(json.dumps(stamped, indent=2, sort_keys=True) + "\n")
    return path


def _head_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    return done.stdout.strip() or "unknown"


# -- seeded state -------------------------------------------------------------------------
def symbol_manifest() -> bytes:
    """The tests' valid SYMBOL_MANIFEST/v1 (of tenant acme, the fuzzed tenant)."""
    return json.dumps(valid_manifest()).encode()


def key_pems() -> tuple[bytes, bytes]:
    """(private PKCS#8 PEM, public SubjectPublicKeyInfo PEM) of a fresh Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


#: A catalog with one advisory against a package of the seeded graph (pkg:pypi/click).
FUZZ_CATALOG = {
    "schema": "stella.vuln-catalog/v1",
    "entries": [{"vuln_id": "FUZZ-1", "package": "pkg:pypi/click", "affected": "<99"}],
}


@dataclass(frozen=True)
class Seeds:
    """Objects of the tenant the ``seeded`` and ``explicit`` cases name."""

    graph_hash: str
    ingest_id: str
    event_id: str
    runtime_sha256: str
    keyid: str
    trace: bytes
    bundle: bytes
    export: bytes
    token_id: str
    vex_id: str

    def path_parameters(self) -> dict[str, str]:
        return {
            "graph_hash": self.graph_hash,
            "ingest_id": self.ingest_id,
            "event_id": self.event_id,
            "namespace": "reachability/runtime",
            "digest": self.runtime_sha256,
            "keyid": self.keyid,
            "token_id": self.token_id,
            "vex_id": self.vex_id,
        }


def seed(client: TestClient, headers: Mapping[str, str]) -> Seeds:
    """A graph, an ingest of a trace for it, a symbol manifest, a trusted key and a token."""

    def ok(response: Any) -> Any:
        if response.status_code >= 300:
            raise RuntimeError(f"seeding failed: {response.status_code} {response.text[:500]}")
        return response

    graph = ok(client.post("/api/v1/graphs", content=graph_bytes(GRAPH_SPEC), headers=headers))
    graph_hash = graph.json()["graph_hash"]
    trace = gzip.compress(trace_bytes(GRAPH_SPEC), mtime=0)
    receipt = ok(
        client.post(
            "/api/v1/runtime-facts",
            params={"graph_hash": graph_hash},
            content=trace,
            headers={**headers, "Content-Type": "application/x-ndjson"},
        )
    ).json()
    ok(client.post("/api/v1/symbols/ingest", content=symbol_manifest(), headers=headers))
    _, public = key_pems()
    key = ok(client.post("/api/v1/keys", content=public, headers=headers)).json()
    events = ok(client.get("/api/v1/timeline/events", headers=headers)).json()["items"]
    bundle = ok(client.get(f"/api/v1/evidence/{receipt['ingest_id']}/bundle", headers=headers))
    export = ok(client.get("/api/v1/timeline/export", headers=headers))
    token = ok(client.post("/api/v1/tokens", json={"scopes": ["signals:read"]}, headers=headers))
    evaluation = ok(
        client.post(
            "/api/v1/reachability/evaluate",
            json={"graph_hash": graph_hash, "catalog": FUZZ_CATALOG, "vex": ["openvex"]},
            headers=headers,
        )
    ).json()
    return Seeds(
        graph_hash=graph_hash,
        ingest_id=receipt["ingest_id"],
        event_id=events[-1]["event_id"],
        runtime_sha256=receipt["content_sha256"],
        keyid=key["keyid"],
        trace=trace,
        bundle=bundle.content,
        export=export.content,
        token_id=token.json()["token_id"],
        vex_id=evaluation["vex"][0]["id"],
    )


# -- explicit cases -----------------------------------------------------------------------
@dataclass(frozen=True)
class Explicit:
    """One fixed request and the statuses it must get."""

    name: str
    operation: str  # "METHOD /path" as in the document
    expect: frozenset[int]
    body: bytes | None = None
    media_type: str | None = None
    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


def _multipart(parts: Mapping[str, bytes], boundary: str = "fuzzboundary") -> tuple[bytes, str]:
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in parts.items()
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def over(limit: int) -> bytes:
    """A body one byte past ``limit``."""
    return b"x" * (limit + 1)


def explicit_cases(seeds: Seeds) -> list[Explicit]:
    """Bodies a route must take or refuse, with the documented status each must get."""
    ingest = "POST /api/v1/runtime-facts"
    verify = "POST /api/v1/graphs/{graph_hash}/verify"
    graph_q = {"graph_hash": seeds.graph_hash}
    new_trace = trace_bytes(SynthSpec(120, seed=31, symbols=60, purls=6))
    bad_record = b'{"not": "a trace record"}\n'
    private, public = key_pems()
    digest_of_other = "sha-256=:" + "A" * 43 + "=:"
    no_runtime_part, no_runtime_type = _multipart({"trace": new_trace})
    garbage_dsse, garbage_dsse_type = _multipart({"runtime": new_trace, "dsse": b"{not json"})
    graph_dsse, graph_dsse_type = _multipart(
        {"graph": graph_bytes(GRAPH_SPEC), "dsse": b"{not json"}
    )
    x = frozenset
    return [
        # runtime-facts: the online ingest
        Explicit("trace ingested", ingest, x({201}), new_trace, "application/x-ndjson",
                 query=graph_q),
        Explicit("same trace again: duplicate", ingest, x({200}), new_trace,
                 "application/x-ndjson", query=graph_q),
        Explicit("trace for an unknown graph: orphan", ingest, x({202}), new_trace,
                 "application/x-ndjson", query={"graph_hash": "blake3:" + "e" * 64}),
        Explicit("trace as text/plain", ingest, x({415}), new_trace, "text/plain",
                 query=graph_q),
        Explicit("trace as application/json", ingest, x({415}), b"[]", "application/json",
                 query=graph_q),
        Explicit("trace without a content type", ingest, x({415}), new_trace, None,
                 query=graph_q),
        Explicit("empty trace", ingest, x({400}), b"", "application/x-ndjson", query=graph_q),
        Explicit("trace line that is not a record", ingest, x({400}), bad_record,
                 "application/x-ndjson", query=graph_q),
        Explicit("trace that is not JSON", ingest, x({400}), b"\x00\xff garbage\n",
                 "application/x-ndjson", query=graph_q),
        Explicit("corrupt gzip", ingest, x({400}), b"\x1f\x8b\x08\x00garbage-not-deflate",
                 "application/gzip", query=graph_q),
        Explicit("malformed graph_hash", ingest, x({400}), new_trace, "application/x-ndjson",
                 query={"graph_hash": "sha256:nothex"}),
        Explicit("Content-Digest of other bytes", ingest, x({422}), new_trace,
                 "application/x-ndjson", query=graph_q,
                 headers={"Content-Digest": digest_of_other}),
        Explicit("malformed Content-Digest", ingest, x({400}), new_trace,
                 "application/x-ndjson", query=graph_q,
                 headers={"Content-Digest": "sha-256=:not base64!:"}),
        Explicit("multipart without a runtime part", ingest, x({400}), no_runtime_part,
                 "multipart/form-data", query=graph_q,
                 headers={"Content-Type": no_runtime_type}),
        Explicit("multipart with a DSSE that is not JSON", ingest, x({422}),
                 garbage_dsse, "multipart/form-data", query=graph_q,
                 headers={"Content-Type": garbage_dsse_type}),
        Explicit("multipart with a broken boundary", ingest, x({400}),
                 b"--other\r\n\r\nx", "multipart/form-data", query=graph_q,
                 headers={"Content-Type": "multipart/form-data; boundary=fuzzboundary"}),
        # graphs
        Explicit("graph known", "POST /api/v1/graphs", x({200}), graph_bytes(GRAPH_SPEC),
                 "application/json"),
        Explicit("graph stored", "POST /api/v1/graphs", x({201}),
                 graph_bytes(OTHER_GRAPH_SPEC), "application/json"),
        Explicit("graph that is not JSON", "POST /api/v1/graphs", x({400}), b"{nope",
                 "application/json"),
        Explicit("graph that is a JSON array", "POST /api/v1/graphs", x({400}), b"[]",
                 "application/json"),
        Explicit("graph of another schema", "POST /api/v1/graphs", x({400}),
                 b'{"schema":"x","nodes":[],"edges":[]}', "application/json"),
        Explicit("graph with a DSSE that is not JSON", "POST /api/v1/graphs", x({422}),
                 graph_dsse, "multipart/form-data",
                 headers={"Content-Type": graph_dsse_type}),
        # verify
        Explicit("verify a trace", verify, x({200}),
                 new_trace, "application/x-ndjson", path={"graph_hash": seeds.graph_hash}),
        Explicit("verify a bad trace", verify, x({400}),
                 bad_record, "application/x-ndjson", path={"graph_hash": seeds.graph_hash}),
        Explicit("verify against an unknown graph", verify,
                 x({404}), new_trace, "application/x-ndjson",
                 path={"graph_hash": "blake3:" + "e" * 64}),
        # symbols
        Explicit("manifest known", "POST /api/v1/symbols/ingest", x({200}), symbol_manifest(),
                 "application/json"),
        Explicit("manifest that is not JSON", "POST /api/v1/symbols/ingest", x({400}),
                 b"{nope", "application/json"),
        Explicit("manifest of another schema", "POST /api/v1/symbols/ingest", x({400}),
                 b'{"schema": "x"}', "application/json"),
        # timeline
        # imports must be signed by a site key the tenant trusts for sync (issue 14)
        Explicit("timeline import of the own export, unsigned", "POST /api/v1/timeline/import",
                 x({422}), seeds.export, "application/x-ndjson"),
        Explicit("timeline import that is not JSON", "POST /api/v1/timeline/import",
                 x({422}), b"{nope\n", "application/json"),
        Explicit("timeline import of a tampered event", "POST /api/v1/timeline/import",
                 x({422}), seeds.export.replace(b'"seq":1', b'"seq":9', 1),
                 "application/x-ndjson"),
        # keys and policy (admin)
        Explicit("trust a public key", "POST /api/v1/keys", x({201}), public,
                 "application/x-pem-file"),
        Explicit("a private key where a public one belongs", "POST /api/v1/keys", x({400}),
                 private, "application/x-pem-file"),
        Explicit("a key that is not PEM", "POST /api/v1/keys", x({400}), b"not a key",
                 "application/x-pem-file"),
        Explicit("revoke the seeded key", "DELETE /api/v1/keys/{keyid}", x({204}),
                 path={"keyid": seeds.keyid}),
        Explicit("revoke an unknown key", "DELETE /api/v1/keys/{keyid}", x({404}),
                 path={"keyid": "no-such-key"}),
        Explicit("set the policy", "PUT /api/v1/policy", x({200}),
                 b'{"require_dsse": false, "dsse_threshold": 1}', "application/json"),
        Explicit("policy that is not JSON", "PUT /api/v1/policy", x({400}), b"{nope",
                 "application/json"),
        Explicit("policy with an unknown field", "PUT /api/v1/policy", x({400}),
                 b'{"require_dsse": true, "extra": 1}', "application/json"),
        Explicit("policy with threshold 0", "PUT /api/v1/policy", x({400}),
                 b'{"require_dsse": true, "dsse_threshold": 0}', "application/json"),
        # tokens (admin)
        Explicit("create an expiring token", "POST /api/v1/tokens", x({201}),
                 b'{"scopes": ["signals:read"], "expires_in": "90d"}', "application/json"),
        Explicit("token with an unknown scope", "POST /api/v1/tokens", x({400}),
                 b'{"scopes": ["signals:everything"]}', "application/json"),
        Explicit("token without a scope", "POST /api/v1/tokens", x({400}),
                 b'{"scopes": []}', "application/json"),
        Explicit("token expiring in the past", "POST /api/v1/tokens", x({400}),
                 b'{"scopes": ["signals:read"], "expires_at": "2000-01-01T00:00:00Z"}',
                 "application/json"),
        Explicit("token expiring at a local time", "POST /api/v1/tokens", x({400}),
                 b'{"scopes": ["signals:read"], "expires_at": "2999-01-01T00:00:00"}',
                 "application/json"),
        Explicit("token with both expiries", "POST /api/v1/tokens", x({400}),
                 b'{"scopes": ["signals:read"], "expires_in": "1d",'
                 b' "expires_at": "2999-01-01T00:00:00Z"}', "application/json"),
        Explicit("token expiring past the year 9999", "POST /api/v1/tokens", x({400}),
                 b'{"scopes": ["signals:read"], "expires_in": "999999999w"}',
                 "application/json"),
        Explicit("token request with an unknown field", "POST /api/v1/tokens", x({400}),
                 b'{"scopes": ["signals:read"], "tenants": ["globex"]}', "application/json"),
        Explicit("the seeded token", "GET /api/v1/tokens/{token_id}", x({200}),
                 path={"token_id": seeds.token_id}),
        Explicit("revoke the seeded token", "DELETE /api/v1/tokens/{token_id}", x({204}),
                 path={"token_id": seeds.token_id}),
        Explicit("revoke the seeded token again", "DELETE /api/v1/tokens/{token_id}",
                 x({204}), path={"token_id": seeds.token_id}),
        Explicit("revoke an unknown token", "DELETE /api/v1/tokens/{token_id}", x({404}),
                 path={"token_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        Explicit("revoke a token id that is no ULID", "DELETE /api/v1/tokens/{token_id}",
                 x({400}), path={"token_id": "not-a-ulid"}),
        Explicit("tokens page token that is no ULID", "GET /api/v1/tokens", x({400}),
                 query={"page_token": encode_token("not-a-ulid")}),
        # too large: refused with 413 before the body is held whole
        Explicit("trace over max_compressed_bytes", ingest, x({413}),
                 over(LIMITS.max_compressed_bytes), "application/x-ndjson", query=graph_q),
        Explicit("verify a trace over max_compressed_bytes", verify, x({413}),
                 over(LIMITS.max_compressed_bytes), "application/x-ndjson",
                 path={"graph_hash": seeds.graph_hash}),
        Explicit("graph over max_graph_bytes", "POST /api/v1/graphs", x({413}),
                 over(LIMITS.max_graph_bytes), "application/json"),
        Explicit("manifest over max_symbol_manifest_bytes", "POST /api/v1/symbols/ingest",
                 x({413}), over(LIMITS.max_symbol_manifest_bytes), "application/json"),
        Explicit("timeline import over its limit", "POST /api/v1/timeline/import", x({413}),
                 over(LIMITS.max_graph_bytes), "application/x-ndjson"),
        Explicit("key over its limit", "POST /api/v1/keys", x({413}), over(MAX_PEM_BYTES),
                 "application/x-pem-file"),
        Explicit("policy over its limit", "PUT /api/v1/policy", x({413}),
                 over(MAX_POLICY_BYTES), "application/json"),
        Explicit("token request over its limit", "POST /api/v1/tokens", x({413}),
                 over(MAX_TOKEN_REQUEST_BYTES), "application/json"),
        Explicit("evidence bundle over its limit", "POST /api/v1/evidence/import", x({413}),
                 over(LIMITS.max_compressed_bytes + (8 << 20)), "application/gzip"),
        # page tokens, ids and filters the routes parse themselves
        Explicit("timeline page token past 2^53", "GET /api/v1/timeline/events", x({400}),
                 query={"page_token": encode_token("9" * 30)}),
        Explicit("timeline page token with a non-ASCII digit", "GET /api/v1/timeline/events",
                 x({400}), query={"page_token": encode_token("1\u00b2")}),
        Explicit("timeline page token of the last seq", "GET /api/v1/timeline/events",
                 x({200}), query={"page_token": encode_token(str(2**53 - 1))}),
        Explicit("since without an offset", "GET /api/v1/timeline/events", x({400}),
                 query={"since": "2025-01-01T00:00:00"}),
        Explicit("ingests page token that is no ULID", "GET /api/v1/ingests", x({400}),
                 query={"page_token": encode_token("not-a-ulid")}),
        Explicit("ingests of an unknown status", "GET /api/v1/ingests", x({400}),
                 query={"status": "sideways"}),
        Explicit("runtime page token that is not base64", "GET /api/v1/graphs/{graph_hash}/runtime",
                 x({400}), path={"graph_hash": seeds.graph_hash}, query={"page_token": "%%%"}),
        Explicit("keys of an unknown purpose", "GET /api/v1/keys", x({400}),
                 query={"purpose": "everything"}),
        # reachability verdicts and VEX
        Explicit("evaluate the seeded graph", "POST /api/v1/reachability/evaluate", x({200}),
                 json.dumps({"graph_hash": seeds.graph_hash, "catalog": FUZZ_CATALOG}).encode(),
                 "application/json"),
        Explicit("evaluate an unknown graph", "POST /api/v1/reachability/evaluate", x({404}),
                 json.dumps({"graph_hash": "blake3:" + "e" * 64,
                             "catalog": FUZZ_CATALOG}).encode(), "application/json"),
        Explicit("evaluate a catalog of another schema", "POST /api/v1/reachability/evaluate",
                 x({400}), json.dumps({"graph_hash": seeds.graph_hash,
                                       "catalog": {"schema": "nope"}}).encode(),
                 "application/json"),
        Explicit("evaluate a body that is not JSON", "POST /api/v1/reachability/evaluate",
                 x({400}), b"{nope", "application/json"),
        Explicit("evaluate a body over its limit", "POST /api/v1/reachability/evaluate",
                 x({413}), over(LIMITS.max_graph_bytes), "application/json"),
        Explicit("the seeded VEX bundle", "GET /api/v1/vex/{vex_id}/bundle", x({200}),
                 path={"vex_id": seeds.vex_id}),
        Explicit("an unknown VEX document", "GET /api/v1/vex/{vex_id}", x({404}),
                 path={"vex_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        Explicit("verdicts of an unknown state", "GET /api/v1/reachability/verdicts", x({400}),
                 query={"state": "ZZ"}),
        Explicit("unknowns page token of nothing", "GET /api/v1/unknowns", x({400}),
                 query={"page_token": encode_token("not-a-position")}),
        # evidence and CAS
        Explicit("import of the own evidence bundle", "POST /api/v1/evidence/import",
                 x({200, 201}), seeds.bundle, "application/gzip"),
        Explicit("the same bundle again", "POST /api/v1/evidence/import", x({200}),
                 seeds.bundle, "application/gzip"),
        Explicit("evidence bundle that is not gzip", "POST /api/v1/evidence/import",
                 x({422}), b"not a bundle", "application/gzip"),
        Explicit("evidence bundle of gzip garbage", "POST /api/v1/evidence/import",
                 x({422}), gzip.compress(b"not a tar", mtime=0), "application/gzip"),
        Explicit("the seeded bundle", "GET /api/v1/evidence/{ingest_id}/bundle", x({200}),
                 path={"ingest_id": seeds.ingest_id}),
        Explicit("the seeded trace blob", "GET /api/v1/cas/{namespace}/{digest}", x({200}),
                 path={"namespace": "reachability/runtime", "digest": seeds.runtime_sha256}),
        Explicit("an unknown namespace", "GET /api/v1/cas/{namespace}/{digest}", x({400}),
                 path={"namespace": "nowhere", "digest": seeds.runtime_sha256}),
        Explicit("a graph envelope that does not exist", "GET /api/v1/cas/{namespace}/{digest}",
                 x({404}), path={"namespace": "reachability/graphs",
                                 "digest": seeds.graph_hash.removeprefix("blake3:") + ".dsse"}),
    ]  # fmt: skip


# -- the run ------------------------------------------------------------------------------
@dataclass
class OperationStats:
    cases: int = 0
    passes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    details: list[dict[str, Any]] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "cases_by_pass": dict(sorted(self.passes.items())),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures_by_check": dict(sorted(self.failures.items())),
            "failures": self.details,
            "passes_not_applicable": self.not_applicable,
        }


@dataclass
class Fuzzer:
    app: FastAPI
    headers: dict[str, str]
    token: str
    stats: dict[str, OperationStats] = field(default_factory=dict)

    def _curl(self, case: Any) -> str:
        try:
            curl: str = case.as_curl_command(headers=self.headers)
        except Exception as exc:  # the command line is a courtesy; never fail the run on it
            return f"(no curl: {type(exc).__name__})"
        return curl.replace(self.token, "$TOKEN")[:1500]

    def _fail(
        self, label: str, check: str, status: int | None, message: str, case: Any, kind: str
    ) -> None:
        stats = self.stats[label]
        stats.failures[check] += 1
        same = [d for d in stats.details if d["check"] == check]
        if len(same) < MAX_DETAILS:
            stats.details.append(
                {
                    "check": check,
                    "pass": kind,
                    "status": status,
                    "message": message.replace(self.token, "$TOKEN")[:1500],
                    "curl": self._curl(case),
                }
            )

    def run_case(
        self, case: Any, kind: str, expect: frozenset[int] | None = None, **kwargs: Any
    ) -> int:
        """Send ``case``, run every check on the answer; the status it got."""
        label = case.operation.label
        stats = self.stats.setdefault(label, OperationStats())
        stats.cases += 1
        stats.passes[kind] += 1
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            response = case.call(headers=headers, **kwargs)
        except Exception as exc:  # out of the app: the server would answer 500 and log it
            stats.statuses[500] += 1
            message = f"{type(exc).__name__}: {str(exc)[:500]}"
            self._fail(label, "not_a_server_error", 500, message, case, kind)
            return 500
        stats.statuses[response.status_code] += 1
        try:
            # Every check at once: one check context per answer instead of one per check
            # (0.36 -> 0.08 ms of CPU per answer, measured on recorded answers).
            case.validate_response(response, checks=list(CHECKS.values()), headers=headers)
        except (Failure, FailureGroup):
            # Something failed: run the checks one by one, to name the check of each failure.
            for name, check in CHECKS.items():
                try:
                    case.validate_response(response, checks=[check], headers=headers)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        message = f"{failure.title}: {getattr(failure, 'message', '')}"
                        self._fail(label, name, response.status_code, message, case, kind)
                except Failure as failure:
                    message = f"{failure.title}: {failure.message}"
                    self._fail(label, name, response.status_code, message, case, kind)
        if expect is not None:
            problem = (response.headers.get("content-type") or [""])[0]
            if response.status_code not in expect:
                message = f"expected {sorted(expect)}, got {response.status_code}: {response.text}"
                self._fail(label, "expected_status", response.status_code, message, case, kind)
            elif response.status_code >= 400 and not problem.startswith("application/problem+json"):
                message = f"a refusal must be problem+json, got {problem!r}"
                self._fail(label, "expected_status", response.status_code, message, case, kind)
        return int(response.status_code)

    def cover(self, schema: Any, operation: Any) -> None:
        """schemathesis's coverage phase: deterministic boundary values, each parameter
        missing or of the wrong type, unexpected methods..."""
        label = operation.label
        self.stats.setdefault(label, OperationStats())
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        try:
            config = schema.config.generation_for(operation=operation)
            for case in schema.iter_coverage_cases(
                operation, generation_modes=modes, generation_config=config
            ):
                self.run_case(case, "coverage")
        except Exception as exc:  # generation failed: a finding about the document
            self._fail(label, "generation", None, f"{type(exc).__name__}: {exc}", None, "coverage")

    def drive(
        self,
        operation: Any,
        kind: str,
        examples: int,
        *,
        seed_value: int | None,
        mode: GenerationMode = GenerationMode.POSITIVE,
        path_parameters: Mapping[str, str] | None = None,
    ) -> None:
        label = operation.label
        self.stats.setdefault(label, OperationStats())
        strategy = operation.as_strategy(
            generation_mode=mode, path_parameters=dict(path_parameters or {}) or None
        )

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=seed_value is None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            report_multiple_bugs=False,
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            self.run_case(case, kind)

        if seed_value is not None:
            run = hypothesis_seed(seed_value)(run)
        try:
            run()
        except Unsatisfiable:
            # e.g. no parameter and no body: nothing to break
            self.stats[label].not_applicable.append(kind)
        except Exception as exc:  # generation itself failed: a finding about the document
            self._fail(label, "generation", None, f"{type(exc).__name__}: {exc}", None, kind)


def fuzz(
    live: LiveApp,
    seeds: Seeds | None,
    *,
    examples: int,
    seed_value: int | None = None,
    who: str = "fuzz",
    only: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Run every pass over every operation (or the ``only`` ones, by label); the result as
    written to api_fuzz.json. Without ``seeds`` there are no seeded nor explicit cases."""
    started = time.monotonic()
    token = live.tokens[who]
    headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": TENANT}
    # The document needs a token too (SPEC §6): only /healthz, /readyz, /metrics are open.
    schema = schemathesis.openapi.from_asgi("/openapi.json", live.app, headers=headers)
    fuzzer = Fuzzer(live.app, headers, token)
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if only is None or operation.label in set(only):
            operations[operation.label] = operation
    explicit: dict[str, Any] = {}
    # Explicit cases first: the fuzzing afterwards may revoke the seeded key, say.
    for item in explicit_cases(seeds) if seeds is not None else []:
        if item.operation not in operations:
            continue
        operation = operations[item.operation]
        typed = item.body is not None and item.media_type is not None
        case = operation.Case(
            path_parameters=dict(item.path),
            query=dict(item.query),
            body=item.body if typed else NOT_SET,
            media_type=item.media_type if typed else None,
        )
        # A body without a media type goes out raw, with no Content-Type at all.
        raw = {"data": item.body} if item.body is not None and not typed else {}
        status = fuzzer.run_case(
            case, f"explicit: {item.name}", expect=item.expect, headers=dict(item.headers), **raw
        )
        explicit[item.name] = {
            "operation": item.operation,
            "expected": sorted(item.expect),
            "status": status,
        }
    seeded = seeds.path_parameters() if seeds is not None else {}
    for operation in operations.values():
        fuzzer.cover(schema, operation)
        fuzzer.drive(operation, "positive", examples, seed_value=seed_value)
        fuzzer.drive(
            operation, "negative", examples, seed_value=seed_value, mode=GenerationMode.NEGATIVE
        )
        names = {p.name for p in operation.path_parameters}
        if names and names <= set(seeded):
            fuzzer.drive(
                operation,
                "seeded",
                max(1, examples // 2),
                seed_value=seed_value,
                path_parameters={name: seeded[name] for name in names},
            )
    stats = {label: fuzzer.stats[label].to_dict() for label in sorted(fuzzer.stats)}
    failures: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for entry in stats.values():
        failures.update(entry["failures_by_check"])
        statuses.update(entry["statuses"])
    return {
        "schemathesis_version": schemathesis.__version__,
        "examples_per_operation": examples,
        "seed": seed_value if seed_value is not None else "derandomized",
        "operations_documented": len(operations),
        "operations_covered": sum(1 for label in operations if stats[label]["cases"] > 0),
        "cases_generated": sum(entry["cases"] for entry in stats.values()),
        "explicit_cases": sum(
            n for entry in stats.values() for k, n in entry["cases_by_pass"].items()
            if k.startswith("explicit")
        ),
        "failures_total": sum(failures.values()),
        "failures_by_check": {name: failures.get(name, 0) for name in FAILURE_KINDS},
        "statuses_total": dict(sorted(statuses.items())),
        "seconds": round(time.monotonic() - started, 1),
        "operations": stats,
        "explicit": explicit,
    }  # fmt: skip


def run(data_dir: Path, *, examples: int, seed_value: int | None = None) -> dict[str, Any]:
    """Open an app on ``data_dir``, seed it, fuzz it."""
    with open_app(data_dir, {"fuzz": ([TENANT], ALL_SCOPES)}, limits=LIMITS) as live:
        with TestClient(live.app) as client:
            headers = {"Authorization": f"Bearer {live.tokens['fuzz']}", "X-Stella-Tenant": TENANT}
            seeds = seed(client, headers)
        return fuzz(live, seeds, examples=examples, seed_value=seed_value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="per operation and pass")
    parser.add_argument(
        "--seed", type=int, default=None, help="Hypothesis seed (default: derandomized)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp) / "data", examples=args.examples, seed_value=args.seed)
    path = write_result("api_fuzz", result, args.out)
    summary = {k: v for k, v in result.items() if k not in ("operations", "explicit")}
    print(json.dumps(summary, indent=2))
    for label, entry in result["operations"].items():
        for detail in entry["failures"]:
            print(f"FAIL {label} [{detail['pass']}] {detail['check']} {detail['status']}: "
                  f"{detail['message'][:300]}")  # fmt: skip
    print(f"wrote {path}")
    sys.exit(1 if result["failures_total"] else 0)


if __name__ == "__main__":
    main()
