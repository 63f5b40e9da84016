"""The authorisation matrix (issue #9, item 6): every route of the app by every kind of
caller → the exact status it must get, asked of a real app (embedded default).

Callers: no token, a malformed header (a valid token under another scheme), a token never
issued, a revoked token and an expired one (every scope), a token of another tenant (every
scope), one token per scope alone (``signals:read``, ``signals:write``, ``signals:admin``),
and a token with every scope whose X-Stella-Tenant header is missing or malformed.

Rules (SPEC §6, docs/api.md): ``/healthz``, ``/readyz`` and ``/metrics`` are open to anyone;
there are no documentation pages. ``/openapi.json`` needs a valid token, of any tenant and any
scope (the tenant header is not looked at). Every other route needs its scope — scopes do not
imply each other. A missing, malformed, unknown, revoked or expired token is 401 with
``WWW-Authenticate: Bearer``; a token that does not allow the tenant, or lacks the scope, is
403; a missing tenant header 403, a malformed one 400; a caller that is allowed gets anything
but 401/403 (and no 5xx). Routes are enumerated from the app itself, so a route added without
an entry in `ROUTES` fails the matrix.

The web console's routes (under ``/ui``, issue 20) are asked by the same callers with a
browser session instead of headers (`ui_matrix`): the caller's token and tenant in the
session cookies, every form with that session's CSRF value.

    python reliability/authz.py [--out FILE]

writes ``reliability/results/authz.json`` and exits 1 when an expectation is not met.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fastapi import FastAPI  # noqa: E402
from fastapi.routing import iter_route_contexts  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from reliability.api_fuzz import ALL_SCOPES, LiveApp, open_app, write_result  # noqa: E402
from stella_signals.auth import new_token, token_hash  # noqa: E402

READ, WRITE, ADMIN = "signals:read", "signals:write", "signals:admin"
PUBLIC = "public"
#: Any token issued, not revoked and not expired, whatever its tenants and scopes.
AUTHENTICATED = "authenticated"

#: Who may call what: (method, path as in the app) -> the scope it needs, or PUBLIC.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): AUTHENTICATED,
    ("POST", "/api/v1/runtime-facts"): WRITE,
    ("POST", "/api/v1/graphs"): WRITE,
    ("GET", "/api/v1/graphs/{graph_hash}"): READ,
    ("POST", "/api/v1/graphs/{graph_hash}/verify"): READ,
    ("GET", "/api/v1/graphs/{graph_hash}/runtime"): READ,
    ("GET", "/api/v1/graphs/{graph_hash}/coverage"): READ,
    ("GET", "/api/v1/ingests/{ingest_id}"): READ,
    ("GET", "/api/v1/ingests"): READ,
    ("POST", "/api/v1/symbols/ingest"): WRITE,
    ("GET", "/api/v1/timeline/events"): READ,
    ("GET", "/api/v1/timeline/events/{event_id}"): READ,
    ("GET", "/api/v1/timeline/export"): READ,
    ("POST", "/api/v1/timeline/import"): WRITE,
    ("GET", "/api/v1/keys/service"): READ,
    ("GET", "/api/v1/time/status"): READ,
    ("GET", "/api/v1/keys"): ADMIN,
    ("POST", "/api/v1/keys"): ADMIN,
    ("DELETE", "/api/v1/keys/{keyid}"): ADMIN,
    ("GET", "/api/v1/policy"): ADMIN,
    ("PUT", "/api/v1/policy"): ADMIN,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/tokens"): ADMIN,
    ("GET", "/api/v1/tokens/{token_id}"): ADMIN,
    ("DELETE", "/api/v1/tokens/{token_id}"): ADMIN,
    ("GET", "/api/v1/evidence/{ingest_id}"): READ,
    ("GET", "/api/v1/evidence/{ingest_id}/bundle"): READ,
    ("GET", "/api/v1/cas/{namespace}/{digest}"): READ,
    ("POST", "/api/v1/evidence/import"): WRITE,
    ("POST", "/api/v1/reachability/evaluate"): WRITE,
    ("GET", "/api/v1/reachability/verdicts"): READ,
    ("GET", "/api/v1/reachability/verdicts/history"): READ,
    ("GET", "/api/v1/unknowns"): READ,
    ("GET", "/api/v1/vex"): READ,
    ("GET", "/api/v1/vex/{vex_id}"): READ,
    ("GET", "/api/v1/vex/{vex_id}/dsse"): READ,
    ("GET", "/api/v1/vex/{vex_id}/bundle"): READ,
}

#: The document itself: a route, but not an operation of the document.
DOCUMENTATION = frozenset({"/openapi.json"})
TENANT = "acme"
#: Tokens granted on the app: name -> (tenants, scopes).
GRANTS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "revoked": ([TENANT], ALL_SCOPES),
    "other_tenant": (["globex"], ALL_SCOPES),
    "read": ([TENANT], (READ,)),
    "write": ([TENANT], (WRITE,)),
    "admin": ([TENANT], (ADMIN,)),
    "all": ([TENANT], ALL_SCOPES),
}
CALLERS = (
    "none",
    "malformed",
    "unknown",
    "revoked",
    "expired",
    "other_tenant",
    "read",
    "write",
    "admin",
    "no_tenant_header",
    "bad_tenant_header",
)
#: Callers without a usable token: 401 on every route but the public ones.
REFUSED = ("none", "malformed", "unknown", "revoked", "expired")
#: Path parameters of the right form, naming nothing: an allowed caller gets past
#: authorisation and is answered 4xx by the route itself.
PATH_VALUES = {
    "graph_hash": "blake3:" + "0" * 64,
    "ingest_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "event_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "vex_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "token_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "keyid": "no-such-key",
    "namespace": "reachability/runtime",
    "digest": "0" * 64,
}
QUERY = {("POST", "/api/v1/runtime-facts"): {"graph_hash": "blake3:" + "0" * 64}}
_PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")


def grant_expired(live: LiveApp, name: str) -> None:
    """A token with every scope for TENANT that expired a second ago."""
    now = live.services.clock.now()
    token = new_token()
    live.services.repo.add_token(
        token_hash=token_hash(token),
        tenants=frozenset({TENANT}),
        scopes=frozenset(ALL_SCOPES),
        at=now - timedelta(hours=1),
        expires_at=now - timedelta(seconds=1),
    )
    live.tokens[name] = token


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves (HEAD, which mirrors GET, left out)."""
    found = set()
    for context in iter_route_contexts(app.routes):
        path = context.path_format or context.path
        for method in context.methods or ():
            if method != "HEAD" and path is not None:
                found.add((method, path))
    return sorted(found, key=lambda r: (r[1], r[0]))


def headers_for(caller: str, tokens: dict[str, str]) -> dict[str, str]:
    tenant = {"X-Stella-Tenant": TENANT}
    if caller == "none":
        return tenant
    if caller == "malformed":  # a valid token, under another scheme
        return {"Authorization": f"Basic {tokens['all']}", **tenant}
    if caller == "unknown":
        return {"Authorization": f"Bearer {new_token()}", **tenant}
    if caller == "no_tenant_header":
        return {"Authorization": f"Bearer {tokens['all']}"}
    if caller == "bad_tenant_header":
        return {"Authorization": f"Bearer {tokens['all']}", "X-Stella-Tenant": "Not A Tenant"}
    return {"Authorization": f"Bearer {tokens[caller]}", **tenant}


def expected(requires: str, caller: str) -> int | str:
    """The status ``caller`` must get on a route needing ``requires``; "allowed" means
    anything but 401, 403 and 5xx."""
    if requires == PUBLIC:
        return 200
    if caller in REFUSED:
        return 401
    if requires == AUTHENTICATED:
        return 200
    if caller in ("other_tenant", "no_tenant_header"):
        return 403
    if caller == "bad_tenant_header":
        return 400
    return "allowed" if caller == requires.removeprefix("signals:") else 403


@dataclass
class Outcome:
    route: str
    caller: str
    expected: int | str
    status: int
    problems: list[str]


def _check(expect: int | str, response: Any) -> list[str]:
    problems = []
    status = response.status_code
    content_type = response.headers.get("content-type", "")
    challenge = response.headers.get("www-authenticate", "")
    if expect == "allowed":
        if status in (401, 403) or status >= 500:
            problems.append(f"allowed caller got {status}: {response.text[:300]}")
    elif status != expect:
        problems.append(f"expected {expect}, got {status}: {response.text[:300]}")
    if status == 401 and not challenge.startswith("Bearer"):
        problems.append(f"401 without WWW-Authenticate: Bearer (got {challenge!r})")
    if status != 401 and challenge:
        problems.append(f"WWW-Authenticate on a {status}")
    if status in (400, 401, 403) and not content_type.startswith("application/problem+json"):
        problems.append(f"{status} is not problem+json but {content_type!r}")
    return problems


def ask(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    url = _PARAM.sub(lambda m: PATH_VALUES[m.group(1)], path)
    body = b"" if method in ("POST", "PUT") else None
    if body is not None:
        headers = {**headers, "Content-Type": "application/x-ndjson"}
    return client.request(
        method, url, params=QUERY.get((method, path)), content=body, headers=headers
    )


def matrix(live: LiveApp) -> dict[str, Any]:
    """Ask every route as every caller; the result as written to authz.json."""
    started = time.monotonic()
    live.revoke("revoked")
    grant_expired(live, "expired")
    routes = app_routes(live.app)
    unlisted = [f"{m} {p}" for m, p in routes if (m, p) not in ROUTES]
    stale = [f"{m} {p}" for m, p in ROUTES if (m, p) not in routes]
    outcomes: list[Outcome] = []
    table: dict[str, Any] = {}
    with TestClient(live.app, raise_server_exceptions=False) as client:
        document = client.get("/openapi.json", headers=headers_for("read", live.tokens))
        documented = set(document.json()["paths"])
        undocumented = sorted({p for _, p in routes} - documented - DOCUMENTATION)
        for method, path in routes:
            requires = ROUTES.get((method, path))
            if requires is None:
                continue
            label = f"{method} {path}"
            row: dict[str, Any] = {"requires": requires, "statuses": {}}
            for caller in CALLERS:
                expect = expected(requires, caller)
                response = ask(client, method, path, headers_for(caller, live.tokens))
                problems = _check(expect, response)
                outcomes.append(Outcome(label, caller, expect, response.status_code, problems))
                row["statuses"][caller] = response.status_code
            table[label] = row
    violations = [
        {"route": o.route, "caller": o.caller, "expected": o.expected, "problem": problem}
        for o in outcomes
        for problem in o.problems
    ]
    return {
        "routes": len(table),
        "callers": len(CALLERS),
        "cases": len(outcomes),
        "expectations_met": sum(1 for o in outcomes if not o.problems),
        "violations_total": len(violations) + len(unlisted) + len(stale) + len(undocumented),
        "seconds": round(time.monotonic() - started, 1),
        "caller_kinds": list(CALLERS),
        "routes_without_expectation": unlisted,
        "expectations_without_route": stale,
        "routes_not_in_openapi": undocumented,
        "violations": violations,
        "matrix": table,
    }


# -- the web console (issue 20) ------------------------------------------------------------
#: Console routes (under /ui) -> the scope their page needs, or PUBLIC (sign-in, assets) or
#: SESSION (any signed-in browser, whatever its tenant and scopes: choosing the tenant, signing
#: out). A browser's session is its token in a cookie, plus the tenant cookie: each caller's
#: token and tenant go in those cookies, and every form carries the session's CSRF value, so
#: what is tested is the token and tenant rule, the same as the API's.
SESSION = "session"
#: Choosing a tenant (the form names TENANT): any session, but only a tenant its token allows.
CHOOSE_TENANT = "choose_tenant"
#: The sign-in form: open to anyone, but only with its double-submit value (cookie + field),
#: which the matrix does not send: always 403.
SIGN_IN = "sign_in"
UI_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/ui/"): PUBLIC,
    ("GET", "/ui/sign-in"): PUBLIC,
    ("POST", "/ui/sign-in"): SIGN_IN,
    ("GET", "/ui/static/{name}"): PUBLIC,
    ("POST", "/ui/sign-out"): SESSION,
    ("GET", "/ui/tenant"): SESSION,
    ("POST", "/ui/tenant"): CHOOSE_TENANT,
    ("GET", "/ui/overview"): READ,
    ("GET", "/ui/ingests"): READ,
    ("GET", "/ui/ingests/{ingest_id}"): READ,
    ("POST", "/ui/ingests/{ingest_id}/verify"): READ,
    ("GET", "/ui/ingests/{ingest_id}/bundle"): READ,
    ("GET", "/ui/timeline"): READ,
    ("POST", "/ui/timeline/verify"): READ,
    ("GET", "/ui/graphs"): READ,
    ("GET", "/ui/graphs/{graph_hash}"): READ,
    ("GET", "/ui/verdicts"): READ,
    ("GET", "/ui/verdicts/history"): READ,
    ("GET", "/ui/unknowns"): READ,
    ("GET", "/ui/vex"): READ,
    ("GET", "/ui/vex/{vex_id}"): READ,
    ("GET", "/ui/vex/{vex_id}/{what}"): READ,
}
UI_PATH_VALUES = {
    **PATH_VALUES,
    "name": "console.css",
    "what": "document",
}
#: Query parameters a console route needs to get past its own checks.
UI_QUERY = {("GET", "/ui/vex"): {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}}


def ui_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the console mounted in ``app`` (HEAD left out)."""
    found = set()
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/ui":
            for sub in route.routes:
                if isinstance(sub, Route) and sub.methods:
                    for method in sub.methods - {"HEAD"}:
                        found.add((method, "/ui" + sub.path))
    return sorted(found, key=lambda r: (r[1], r[0]))


def ui_cookies(caller: str, tokens: dict[str, str]) -> dict[str, str]:
    """The cookies of a browser signed in as ``caller`` (none: no session at all)."""
    if caller == "none":
        return {}
    if caller == "malformed":
        return {"stella_token": "not a token", "stella_tenant": TENANT}
    if caller == "unknown":
        token = new_token()
    else:
        token = tokens["all" if caller.endswith("_tenant_header") else caller]
    if caller == "no_tenant_header":
        return {"stella_token": token}
    if caller == "bad_tenant_header":
        return {"stella_token": token, "stella_tenant": "Not A Tenant"}
    return {"stella_token": token, "stella_tenant": TENANT}


def ui_expected(requires: str, caller: str) -> int | str:
    """What a console route answers ``caller``: 303 to sign-in without a usable token, 303
    to the tenant choice without a tenant, then the API's 403 / 400 rules."""
    if requires == PUBLIC:
        return "public"
    if requires == SIGN_IN:
        return 403
    if caller in REFUSED:
        return "to_sign_in"
    if requires == SESSION:
        return "allowed"
    if requires == CHOOSE_TENANT:
        return 403 if caller == "other_tenant" else "allowed"
    if caller == "no_tenant_header":
        return "to_tenant"
    if caller == "other_tenant":
        return 403
    if caller == "bad_tenant_header":
        return 400
    return "allowed" if caller == requires.removeprefix("signals:") else 403


def _ui_check(expect: int | str, response: Any) -> list[str]:
    status, location = response.status_code, response.headers.get("location", "")
    if expect == "public":
        return [] if status < 400 else [f"public route got {status}"]
    if expect == "to_sign_in":
        ok = status == 303 and location.startswith("/ui/sign-in")
        return [] if ok else [f"expected 303 to sign-in, got {status} {location!r}"]
    if expect == "to_tenant":
        ok = status == 303 and location == "/ui/tenant"
        return [] if ok else [f"expected 303 to /ui/tenant, got {status} {location!r}"]
    if expect == "allowed":
        ok = status not in (401, 403) and status < 500
        return [] if ok else [f"allowed caller got {status}: {response.text[:300]}"]
    return [] if status == expect else [f"expected {expect}, got {status}"]


def ui_matrix(live: LiveApp) -> dict[str, Any]:
    """Every console route by every caller, with a browser session built from its token."""
    from stella_signals.console._session import csrf_token

    if "expired" not in live.tokens:
        grant_expired(live, "expired")
    if live.services.repo.find_token(token_hash(live.tokens["revoked"])) is not None:
        live.revoke("revoked")
    routes = ui_routes(live.app)
    unlisted = [f"{m} {p}" for m, p in routes if (m, p) not in UI_ROUTES]
    stale = [f"{m} {p}" for m, p in UI_ROUTES if (m, p) not in routes]
    violations: list[dict[str, Any]] = []
    table: dict[str, Any] = {}
    for method, path in routes:
        requires = UI_ROUTES.get((method, path))
        if requires is None:
            continue
        label = f"{method} {path}"
        row: dict[str, Any] = {"requires": requires, "statuses": {}}
        for caller in CALLERS:
            cookies = ui_cookies(caller, live.tokens)
            with TestClient(live.app, raise_server_exceptions=False, cookies=cookies) as client:
                url = _PARAM.sub(lambda m: UI_PATH_VALUES[m.group(1)], path)
                form = None
                if method == "POST":
                    token, tenant = cookies.get("stella_token"), cookies.get("stella_tenant")
                    form = {"csrf": csrf_token(token, tenant) if token else "", "tenant": TENANT}
                response = client.request(
                    method,
                    url,
                    params=UI_QUERY.get((method, path)),
                    data=form,
                    follow_redirects=False,
                )
            expect = ui_expected(requires, caller)
            for problem in _ui_check(expect, response):
                violations.append(
                    {"route": label, "caller": caller, "expected": expect, "problem": problem}
                )
            row["statuses"][caller] = response.status_code
        table[label] = row
    return {
        "routes": len(table),
        "caller_kinds": list(CALLERS),
        "cases": len(table) * len(CALLERS),
        "routes_without_expectation": unlisted,
        "expectations_without_route": stale,
        "violations": violations,
        "violations_total": len(violations) + len(unlisted) + len(stale),
        "matrix": table,
    }


def run(data_dir: Path) -> dict[str, Any]:
    with open_app(data_dir, GRANTS) as live:
        result = matrix(live)
        result["console"] = ui_matrix(live)
        result["violations_total"] += result["console"]["violations_total"]
        return result


def iter_lines(result: dict[str, Any]) -> Iterator[str]:
    callers = result["caller_kinds"]
    yield f"{'route':58} {'needs':13} " + " ".join(f"{c[:9]:>9}" for c in callers)
    for label, row in result["matrix"].items():
        statuses = " ".join(f"{row['statuses'][c]:>9}" for c in callers)
        yield f"{label:58} {row['requires']:13} {statuses}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp) / "data")
    path = write_result("authz", result, args.out)
    for line in iter_lines(result):
        print(line)
    for line in iter_lines(result["console"]):  # the console's routes, with browser sessions
        print(line)
    summary = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
    print(json.dumps(summary, indent=2))
    for item in (
        result["routes_without_expectation"]
        + result["expectations_without_route"]
        + result["routes_not_in_openapi"]
        + result["violations"]
        + result["console"]["routes_without_expectation"]
        + result["console"]["expectations_without_route"]
        + result["console"]["violations"]
    ):
        print("VIOLATION", item)
    print(f"wrote {path}")
    sys.exit(1 if result["violations_total"] else 0)


if __name__ == "__main__":
    main()
