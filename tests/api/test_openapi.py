"""/openapi.json documents every route, with its error statuses as problem+json; it needs a
bearer token like every route but /healthz, /readyz and /metrics (SPEC §6)."""

from __future__ import annotations

from tests.api.conftest import Api

PUBLIC = {"/healthz", "/readyz", "/metrics"}


def test_openapi_is_complete(api: Api) -> None:
    response = api.client.get("/openapi.json", headers=api.headers())
    assert response.status_code == 200, response.text
    spec = response.json()
    paths = spec["paths"]
    for route in [
        "/api/v1/runtime-facts",
        "/api/v1/graphs",
        "/api/v1/graphs/{graph_hash}",
        "/api/v1/graphs/{graph_hash}/verify",
        "/api/v1/symbols/ingest",
        "/api/v1/ingests",
        "/api/v1/ingests/{ingest_id}",
        "/api/v1/timeline/events",
        "/api/v1/timeline/events/{event_id}",
        "/api/v1/timeline/export",
        "/api/v1/keys/service",
        "/healthz",
        "/readyz",
    ]:
        assert route in paths, route
    for path, operations in paths.items():
        if path in PUBLIC:
            continue
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "403"} <= statuses, (method, path, statuses)
            for status in statuses - {"200", "201", "202", "204"}:
                content = operation["responses"][status].get("content", {})
                assert "application/problem+json" in content, (method, path, status)
    runtime = paths["/api/v1/runtime-facts"]["post"]["responses"]
    assert {"200", "201", "202", "400", "401", "403", "413", "415", "422"} <= set(runtime)
    body = paths["/api/v1/runtime-facts"]["post"]["requestBody"]["content"]
    parts = body["multipart/form-data"]["schema"]["properties"]
    assert sorted(parts) == ["dsse", "probe_manifest", "runtime"]
    graph_body = paths["/api/v1/graphs"]["post"]["requestBody"]["content"]
    assert sorted(graph_body["multipart/form-data"]["schema"]["properties"]) == ["dsse", "graph"]


def test_errors_outside_routes_are_problems_too(api: Api) -> None:
    missing = api.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    not_a_number = api.client.get(
        "/api/v1/timeline/events", params={"page_size": "many"}, headers=api.headers()
    )
    assert not_a_number.status_code == 400
    assert not_a_number.json()["reason"] == "invalid_request"


def test_the_document_needs_a_valid_token_of_any_tenant_and_scope(api: Api) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer stl_" + "r" * 43},  # well-formed, never issued
        {"Authorization": f"Basic {api.tokens['acme']}"},
    ):
        refused = api.client.get("/openapi.json", headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["status"] == 401
    # any tenant, any scope; the tenant header is not looked at
    for headers in (
        api.headers("acme-reader"),
        api.headers("globex"),
        {"Authorization": f"Bearer {api.tokens['globex']}"},
        {"Authorization": f"Bearer {api.tokens['globex']}", "X-Stella-Tenant": "acme"},
    ):
        allowed = api.client.get("/openapi.json", headers=headers)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["openapi"].startswith("3.")
    assert "/openapi.json" not in allowed.json()["paths"]


def test_there_are_no_documentation_pages(api: Api) -> None:
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        for headers in ({}, api.headers()):
            assert api.client.get(path, headers=headers).status_code == 404, path
