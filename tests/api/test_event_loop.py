"""Async routes never block the event loop on the metadata store (issue 15 item 5).

An `async def` route that calls the store directly stops every other request of the server
process for as long as the call takes. The test makes one store method slow in a way it can
see: the call waits on a gate the test holds, and records when it starts and when it ends.
While that call is held, `/healthz` sent on the same event loop must be answered; only then
is the gate opened. A route that called the store on the loop would hold the whole loop
inside the gate, so `/healthz` could only be answered after the call had ended (the gate
gives up after `GATE_SECONDS`, so such a failure ends instead of hanging): the assertion is
about the order of events, not about a duration."""

from __future__ import annotations

import ast
import asyncio
import inspect
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stella_signals.api import create_app
from stella_signals.attest import generate_private_key_pem, public_key_pem
from stella_signals.wiring import Services
from tests.realservers.backends import Backend, grant_tokens

#: How long a held store call waits before it gives up (only reached when the test fails).
GATE_SECONDS = 10.0


class Gate:
    """Holds calls of one store method until opened; says whether one is in progress."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.finished = threading.Event()
        self.opened = threading.Event()

    def hold(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            try:
                self.opened.wait(GATE_SECONDS)
                return method(*args, **kwargs)
            finally:
                self.finished.set()

        return held


class GatedRepository:
    """The deployment's real repository, with one method held by a gate."""

    def __init__(self, repo: Any, name: str, gate: Gate) -> None:
        self._repo, self._name, self._held = repo, name, gate.hold(getattr(repo, name))

    def __getattr__(self, name: str) -> Any:
        return self._held if name == self._name else getattr(self._repo, name)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services.open(Backend("embedded").settings(tmp_path / "data"))
    yield services
    services.close()


def _pem() -> bytes:
    return public_key_pem(generate_private_key_pem())


#: (store method, request, expected status) of each async route that calls the store itself.
ROUTES: dict[str, tuple[str, Callable[[], dict[str, Any]], int]] = {
    "POST /api/v1/keys": (
        "add_trusted_key",
        lambda: {"method": "POST", "url": "/api/v1/keys", "content": _pem()},
        201,
    ),
    "PUT /api/v1/policy": (
        "set_policy",
        lambda: {
            "method": "PUT",
            "url": "/api/v1/policy",
            "json": {"require_dsse": True, "dsse_threshold": 1},
        },
        200,
    ),
    "POST /api/v1/tokens": (
        "add_token",
        lambda: {"method": "POST", "url": "/api/v1/tokens", "json": {"scopes": ["signals:read"]}},
        201,
    ),
    "POST /api/v1/graphs/{graph_hash}/verify": (  # the graph is looked up first: none here
        "get_graph",
        lambda: {
            "method": "POST",
            "url": f"/api/v1/graphs/blake3:{'0' * 64}/verify",
            "content": b"",
            "headers": {"Content-Type": "application/x-ndjson"},
        },
        404,
    ),
}


@pytest.mark.parametrize("route", ROUTES)
def test_a_slow_store_call_does_not_hold_other_requests(services: Services, route: str) -> None:
    method, request, expected = ROUTES[route]
    token = grant_tokens(services, {"admin": (["acme"], ["signals:admin", "signals:read"])})[
        "admin"
    ]
    gate = Gate()
    services.repo = GatedRepository(services.repo, method, gate)  # type: ignore[assignment]
    app = create_app(services)
    headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "acme"}

    async def scenario() -> tuple[int, bool, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            call = request()
            call["headers"] = headers | call.get("headers", {})
            slow = asyncio.create_task(client.request(**call))
            while not gate.entered.is_set():  # the route reached the store
                assert not slow.done(), (await slow).text
                await asyncio.sleep(0.01)
            health = await client.get("/healthz")
            held_while_answered = not gate.finished.is_set()
            gate.opened.set()
            return health.status_code, held_while_answered, (await slow).status_code

    try:
        health, held_while_answered, status = asyncio.run(scenario())
    finally:
        gate.opened.set()
    assert health == 200
    assert held_while_answered, f"{route} held the event loop while the store call ran"
    assert status == expected


#: What a route reaches the deployment's stores through (`wiring.Services`): its ports, read
#: from the class so that a new one is covered, and the attributes that hold stores.
STORES = {name for name, value in vars(Services).items() if isinstance(value, property)}
STORES |= {"repo", "blobs", "graphs"}
#: `Services` methods that work on the stores themselves (`services.issue_token(...)`): every
#: public one (a new one is covered) but those that only build a value from what it holds.
BUILDS_ONLY = {"ingest_context"}
SERVICE_METHODS = {
    name
    for name, value in vars(Services).items()
    if inspect.isfunction(value) and not name.startswith("_")
} - BUILDS_ONLY
API = Path(__file__).resolve().parents[2] / "src" / "stella_signals" / "api"


def store_calls_on_the_loop(source: str) -> list[str]:
    """Calls like ``services.trust.add_trusted_key(...)`` made directly in an ``async def``
    (not in a nested function or lambda, which the route hands to a worker thread)."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        todo: list[ast.AST] = list(function.body)
        while todo:
            node = todo.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(node, ast.Call):
                chain, target = [], node.func
                while isinstance(target, ast.Attribute):
                    chain.append(target.attr)
                    target = target.value
                if isinstance(target, ast.Name):
                    chain.append(target.id)
                through_services = len(chain) > 1 and chain[1] == "services"
                if STORES & set(chain[1:]) or (through_services and chain[0] in SERVICE_METHODS):
                    found.append(f"{function.name}, line {node.lineno}: {'.'.join(chain[::-1])}")
            todo.extend(ast.iter_child_nodes(node))
    return found


def test_no_async_route_calls_a_store_on_the_event_loop() -> None:
    """The rule the test above checks at run time, for every async route of the API."""
    found = {
        path.name: calls
        for path in sorted(API.glob("*.py"))
        if (calls := store_calls_on_the_loop(path.read_text()))
    }
    assert found == {}


def test_the_scan_sees_a_store_call_on_the_loop() -> None:
    blocking = "async def route(services):\n    return services.trust.get_policy('acme')\n"
    threaded = (
        "async def route(services):\n"
        "    return await run_sync(lambda: services.trust.get_policy('acme'))\n"
    )
    assert store_calls_on_the_loop(blocking) == ["route, line 2: services.trust.get_policy"]
    assert store_calls_on_the_loop(threaded) == []
    for call in ("services.issue_token(tenants=t, request=r)", "services.trust_key(t, p, k)"):
        method = call.split("(")[0]
        direct = f"async def route(services):\n    return {call}\n"
        assert store_calls_on_the_loop(direct) == [f"route, line 2: {method}"]
        via_app = f"async def route(request):\n    return request.app.state.{call}\n"
        assert store_calls_on_the_loop(via_app) == [f"route, line 2: request.app.state.{method}"]
        handed_off = f"async def route(services):\n    return await run_sync(lambda: {call})\n"
        assert store_calls_on_the_loop(handed_off) == []
