"""/openapi.json documents every route, with its error statuses as problem+json."""

from __future__ import annotations

from tests.api.conftest import Api

PUBLIC = {"/healthz", "/readyz", "/metrics"}


def test_openapi_is_complete(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
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


def test_errors_outside_routes_are_problems_too(api: Api) -> None:
    missing = api.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    no_query = api.client.post("/api/v1/runtime-facts", headers=api.headers(), content=b"x")
    assert no_query.status_code == 400
    assert no_query.json()["reason"] == "invalid_request"
