"""Authorisation (issue #9, item 6): every route of the app by every kind of caller gets
the exact status (`reliability/authz.py` computes the matrix; `python reliability/authz.py`
writes reliability/results/authz.json). Plus: tokens are found by their SHA-256, never
compared as secrets; no token, private key or trace content reaches a log; an internal error
answers a generic problem, never a stack trace."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from reliability import authz
from reliability.api_fuzz import ALL_SCOPES, LiveApp, key_pems, open_app
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests.realservers.backends import Backend, issue_token
from tests.realservers.signals_process import SignalsProcess, free_port

SRC = Path(__file__).resolve().parents[2] / "src" / "stella_signals"
SPEC = SynthSpec(50, seed=41, symbols=20, purls=4)
MARKER = "zz-trace-marker-7f3c9d1e"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    grants = {**authz.GRANTS, "both": (["acme", "globex"], ALL_SCOPES)}
    with open_app(tmp_path / "data", grants) as app:
        yield app


def _trace_with_marker() -> bytes:
    """A valid trace whose records carry MARKER (process name), then a bad line with it."""
    lines = trace_bytes(SPEC).splitlines()
    marked = [
        json.dumps({**json.loads(line), "process_name": MARKER}, separators=(",", ":")).encode()
        for line in lines
    ]
    return b"\n".join(marked) + b"\n"


# -- the matrix ---------------------------------------------------------------------------
def test_every_route_by_every_caller_gets_the_expected_status(live: LiveApp) -> None:
    result = authz.matrix(live)
    assert result["routes_without_expectation"] == [], "give each new route its scope in ROUTES"
    assert result["expectations_without_route"] == []
    assert result["routes_not_in_openapi"] == []
    assert result["violations"] == []
    assert result["violations_total"] == 0
    assert result["routes"] == len(authz.ROUTES) >= 32
    assert result["cases"] == result["routes"] * len(authz.CALLERS) == result["expectations_met"]
    # the matrix holds what the rules say, route by route
    for label, row in result["matrix"].items():
        if row["requires"] == authz.PUBLIC:
            assert set(row["statuses"].values()) == {200}, label
            continue
        statuses = row["statuses"]
        assert [statuses[c] for c in authz.REFUSED] == [401] * 5
        if row["requires"] == authz.AUTHENTICATED:  # /openapi.json: any tenant, any scope
            rest = set(authz.CALLERS) - set(authz.REFUSED)
            assert {statuses[c] for c in rest} == {200}, label
            continue
        assert statuses["other_tenant"] == statuses["no_tenant_header"] == 403, label
        assert statuses["bad_tenant_header"] == 400, label
        allowed = row["requires"].removeprefix("signals:")
        for scope in ("read", "write", "admin"):
            if scope == allowed:
                assert statuses[scope] not in (401, 403) and statuses[scope] < 500, label
            else:
                assert statuses[scope] == 403, (label, scope)


def test_a_route_without_an_expectation_fails_the_matrix(live: LiveApp) -> None:
    @live.app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    result = authz.matrix(live)
    assert result["routes_without_expectation"] == ["GET /api/v1/forgotten"]
    assert result["violations_total"] >= 1


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Token {token}",
        "Bearer {token}, Bearer {token}",
        "Bearer\t{token}",
        "Bearer " + "x" * 300,
        "{token}",
    ],
)
def test_malformed_authorization_headers_are_401_with_a_bearer_challenge(
    live: LiveApp, authorization: str
) -> None:
    client = TestClient(live.app)
    value = authorization.format(token=live.tokens["all"])
    response = client.get(
        "/api/v1/policy", headers={"Authorization": value, "X-Stella-Tenant": "acme"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert live.tokens["all"] not in response.text


@pytest.mark.parametrize(
    ("tenant_headers", "status"),
    [
        ([("X-Stella-Tenant", "acme"), ("X-Stella-Tenant", "globex")], 400),
        ([("X-Stella-Tenant", "globex"), ("X-Stella-Tenant", "acme")], 400),
        ([("X-Stella-Tenant", "acme,globex")], 400),
        ([("X-Stella-Tenant", "ACME")], 400),
        ([("X-Stella-Tenant", "")], 400),
        ([], 403),
        ([("X-Stella-Tenant", "initech")], 403),
        ([("X-Stella-Tenant", "globex")], 200),
    ],
)
def test_the_tenant_header_must_name_exactly_one_allowed_tenant(
    live: LiveApp, tenant_headers: list[tuple[str, str]], status: int
) -> None:
    """Even a token for both tenants cannot ask for two at once."""
    headers = httpx.Headers([("Authorization", f"Bearer {live.tokens['both']}"), *tenant_headers])
    response = TestClient(live.app).get("/api/v1/policy", headers=headers)
    assert response.status_code == status, response.text


# -- tokens are not compared as secrets ---------------------------------------------------
_SECRET_WORDS = ("token", "secret", "password", "passphrase", "signature", "sig", "hmac")
_NOT_SECRETS = {"page_token", "next_page_token", "after", "scheme", "token_id", "TOKEN_PREFIX"}


def _names(node: ast.AST) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def _secret_comparisons(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        names = _names(node) - _NOT_SECRETS
        if any(word in name.lower().split("_") for name in names for word in _SECRET_WORDS):
            hits.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: {ast.unparse(node)}")
    return hits


def test_no_secret_is_compared_with_equality_anywhere() -> None:
    """`==` on a secret returns early at the first differing byte; secrets are compared with
    `hmac.compare_digest`, or (tokens) only their SHA-256 is ever looked up."""
    hits = [hit for path in sorted(SRC.rglob("*.py")) for hit in _secret_comparisons(path)]
    # The one allowed: the SQL lookup by SHA-256 of the token (a hash, not the secret; an
    # attacker timing it learns about a hash whose preimage they would still need).
    allowed = "tokens.c.token_hash == sa.bindparam('token_hash')"
    assert [hit for hit in hits if allowed not in hit] == []
    assert any(allowed in hit for hit in hits), "the token lookup moved: check it again"


def test_a_token_is_found_by_its_sha256_and_stored_only_so(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = live.tokens["all"]
    asked: list[str] = []
    find = live.services.repo.find_token

    def spy(token_hash: str) -> Any:
        asked.append(token_hash)
        return find(token_hash)

    monkeypatch.setattr(live.services.repo, "find_token", spy)
    headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "acme"}
    assert TestClient(live.app).get("/api/v1/policy", headers=headers).status_code == 200
    assert asked == [hashlib.sha256(token.encode()).hexdigest()]
    with live.services.repo.engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.exec_driver_sql("SELECT * FROM tokens")]
    assert all(token not in json.dumps(row, default=str) for row in rows)
    assert {"token_hash"} <= set(rows[0]) and not {"token", "secret"} & set(rows[0])
    for path in live.data_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


# -- nothing secret in logs ---------------------------------------------------------------
def _exercise(
    client: Any, url: str, tokens: dict[str, str], private_pem: bytes, rejected: str
) -> None:
    """Requests that carry a token, a private key and MARKER, accepted and refused."""
    good = {"Authorization": f"Bearer {tokens['all']}", "X-Stella-Tenant": "acme"}
    graph = client.post(f"{url}/api/v1/graphs", content=graph_bytes(SPEC), headers=good)
    assert graph.status_code == 201, graph.text
    graph_hash = graph.json()["graph_hash"]
    trace = _trace_with_marker()
    ndjson = {**good, "Content-Type": "application/x-ndjson"}
    for body in (trace, trace + b'{"symbol_id": "' + MARKER.encode() + b'"}\n'):
        client.post(
            f"{url}/api/v1/runtime-facts", params={"graph_hash": graph_hash}, content=body,
            headers=ndjson,
        )  # fmt: skip
    client.post(f"{url}/api/v1/graphs/{graph_hash}/verify", content=trace, headers=ndjson)
    # refused before the body is read: a malformed graph hash (URLs are logged: no marker)
    client.post(
        f"{url}/api/v1/runtime-facts", params={"graph_hash": "nope"}, content=trace,
        headers=ndjson,
    )  # fmt: skip
    admin = {"Authorization": f"Bearer {tokens['admin']}", "X-Stella-Tenant": "acme"}
    assert client.post(f"{url}/api/v1/keys", content=private_pem, headers=admin).status_code == 400
    client.put(f"{url}/api/v1/policy", content=MARKER.encode(), headers=admin)
    for authorization in (f"Basic {tokens['all']}", f"Bearer {rejected}", "Bearer x"):
        asking = {"Authorization": authorization, "X-Stella-Tenant": "acme"}
        refused = client.get(f"{url}/api/v1/policy", headers=asking)
        assert refused.status_code == 401


def _assert_clean(text: str, secrets: dict[str, str]) -> None:
    for name, secret in secrets.items():
        assert secret not in text, f"{name} leaked into the log"


def test_no_token_key_or_trace_content_in_the_app_logs(
    live: LiveApp, caplog: pytest.LogCaptureFixture
) -> None:
    live.revoke("revoked")
    private_pem, _ = key_pems()
    caplog.set_level(logging.DEBUG)
    with TestClient(live.app) as client:
        _exercise(client, "", live.tokens, private_pem, rejected=live.tokens["revoked"])
    text = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
        for record in caplog.records
    )
    service_pem = (live.data_dir / "keys" / "service.pem").read_text()
    secrets = {**live.tokens, "posted private key": _pem_body(private_pem)}
    _assert_clean(
        text, {**secrets, "service key": _pem_body(service_pem.encode()), "marker": MARKER}
    )


def _pem_body(pem: bytes) -> str:
    """The base64 of a PEM, its secret part (the armour lines are public)."""
    return "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))


@pytest.mark.e2e
def test_no_token_key_or_trace_content_in_the_server_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    deployment = ["--data-dir", str(data_dir)]
    tokens = {
        "all": issue_token(Backend("embedded"), data_dir, "acme", scopes=ALL_SCOPES),
        "admin": issue_token(Backend("embedded"), data_dir, "acme", scopes=("signals:admin",)),
        "unissued": "stl_" + "r" * 43,  # well-formed, never issued
    }
    log = tmp_path / "server.log"
    process = SignalsProcess(["serve", *deployment], log, port=free_port())
    process.start()
    try:
        private_pem, _ = key_pems()
        with httpx.Client(timeout=60) as client:
            _exercise(client, process.url, tokens, private_pem, rejected=tokens["unissued"])
    finally:
        process.stop()
    text = log.read_text(errors="replace")
    assert "Uvicorn running" in text or "Application startup complete" in text  # it did log
    service_pem = (data_dir / "keys" / "service.pem").read_bytes()
    _assert_clean(
        text,
        {
            **tokens,
            "posted private key": _pem_body(private_pem),
            "service key": _pem_body(service_pem),
            "marker": MARKER,
        },
    )


# -- internal errors ----------------------------------------------------------------------
def _assert_generic_500(response: httpx.Response) -> None:
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 500 and body["reason"] == "internal_error"
    assert set(body) <= {"type", "title", "status", "detail", "reason"}
    for leak in ("Traceback", "RuntimeError", ".py", "/work", "line ", MARKER, "boom"):
        assert leak not in response.text, leak


def test_an_internal_error_is_a_generic_problem_without_a_stack_trace(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom in {SRC / 'storage' / '_sql_repo.py'}, line 42: {MARKER}")

    headers = {"Authorization": f"Bearer {live.tokens['all']}", "X-Stella-Tenant": "acme"}
    client = TestClient(live.app, raise_server_exceptions=False)
    # a route's own call
    monkeypatch.setattr(live.services.repo, "get_graph", boom)
    _assert_generic_500(client.get(f"/api/v1/graphs/blake3:{'0' * 64}", headers=headers))
    # the authentication dependency every protected route has
    monkeypatch.setattr(live.services.repo, "find_token", boom)
    _assert_generic_500(client.get("/api/v1/time/status", headers=headers))
    _assert_generic_500(
        client.post(
            "/api/v1/runtime-facts",
            params={"graph_hash": "blake3:" + "0" * 64},
            content=b"{}\n",
            headers={**headers, "Content-Type": "application/x-ndjson"},
        )
    )
