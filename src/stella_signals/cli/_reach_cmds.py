"""`stella reach` (SPEC §15): evaluate a vulnerability catalog against a graph on the server,
list the unknowns and a verdict's history; and `stella vex export`, which writes a signed VEX
document and its envelope for `stella vex verify`. Client side: everything goes through the
API (``POST /api/v1/reachability/evaluate``, ``GET /api/v1/unknowns``, ...).

Exit codes (SPEC §10): 0 done; 6 a catalog that breaks SPEC §15 (each problem named); 2
usage, an unreadable file, an unknown graph (404) or a refused request; 1 another failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from stella_signals.cli._client import ServerOption, TokenFileOption, client_for, fail_from_problem
from stella_signals.cli._common import fail, read_input
from stella_signals.cli._exit import ExitCode
from stella_signals.strictjson import loads_strict
from stella_signals.wire import parse_rfc3339

__all__ = ["app", "vex_export_command"]

#: Sibling of a document that holds its envelope (``vex.json`` → ``vex.json.dsse.json``), as
#: `stella vex verify` looks for it.
ENVELOPE_SUFFIX = ".dsse.json"

app = typer.Typer(help="Reachability verdicts of a graph (SPEC §15), from the server.",
                  no_args_is_help=True)  # fmt: skip

Tenant = Annotated[str, typer.Option("--tenant", envvar="STELLA_TENANT", help="Tenant id")]
Graph = Annotated[str, typer.Option("--graph", help="The graph hash (blake3:<hex>)")]
CatalogFile = Annotated[
    Path, typer.Option("--catalog", help="A stella.vuln-catalog/v1 file (JSON)")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the server's JSON answer")]


def _catalog(path: Path) -> dict[str, Any]:
    """The catalog file as the JSON object to send, after checking it here first: a bad
    catalog is named problem by problem without a round trip (exit 6)."""
    # Imported here: the catalog parser pulls in `packaging`, which other commands never need.
    from stella_signals.reach import InvalidCatalog, parse_catalog

    data = read_input(path)
    try:
        parse_catalog(data)
    except InvalidCatalog as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: {problem.pointer or '(catalog)'}: {problem.reason}: "
                       f"{problem.message}", err=True)  # fmt: skip
        fail(f"{path}: not a stella.vuln-catalog/v1: {exc}", ExitCode.SCHEMA_INVALID)
    document: dict[str, Any] = loads_strict(data)
    return document


def _since(text: str | None) -> str | None:
    if text is not None and parse_rfc3339(text) is None:
        fail(f"--since {text!r}: not an RFC 3339 date-time with an offset", ExitCode.USAGE)
    return text


def _call(client: httpx.Client, server: str | None, method: str, url: str,
          **kwargs: Any) -> httpx.Response:  # fmt: skip
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {server}: {exc}", ExitCode.USAGE)
    if response.status_code != 200:
        fail_from_problem(response)
    return response


def _pages(client: httpx.Client, server: str | None, url: str,
           params: dict[str, str]) -> Iterator[dict[str, Any]]:  # fmt: skip
    token: str | None = None
    while True:
        query = {**params, "page_size": "500"} | ({"page_token": token} if token else {})
        body = _call(client, server, "GET", url, params=query).json()
        yield from body["items"]
        token = body.get("next_page_token")
        if not token:
            return


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]  # fmt: skip
    return "\n".join(lines) + "\n"


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


@app.command("evaluate")
def evaluate_command(
    graph: Graph,
    catalog: CatalogFile,
    tenant: Tenant,
    since: Annotated[
        str | None, typer.Option("--since", help="Window start (RFC 3339); default: every ingest")
    ] = None,
    as_json: AsJson = False,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Evaluate a vulnerability catalog against a graph and its runtime evidence.

    Prints one line per target (vulnerability, symbol, state, hits). Exit 0 evaluated, 6 bad
    catalog, 2 usage or unknown graph.
    """
    body: dict[str, Any] = {"graph_hash": graph, "catalog": _catalog(catalog)}
    if _since(since) is not None:
        body["since"] = since
    with client_for(server, tenant, token_file) as client:
        result = _call(client, server, "POST", "/api/v1/reachability/evaluate", json=body).json()
    if as_json:
        _print_json(result)
        raise typer.Exit(int(ExitCode.OK))
    rows = [
        [v["vuln_id"], v["package"], v["symbol"] or "(package)", v["state"],
         str(v["runtime"]["hits"])]
        for v in result["verdicts"]
    ]  # fmt: skip
    sys.stdout.write(_table(rows, ["VULN", "PACKAGE", "SYMBOL", "STATE", "HITS"]))
    sys.stdout.write(
        f"evaluation {result['evaluation_id']}: {len(rows)} verdict(s), "
        f"{len(result['unknowns'])} unknown(s), {len(result.get('changes', []))} changed\n"
    )
    raise typer.Exit(int(ExitCode.OK))


@app.command("unknowns")
def unknowns_command(
    graph: Graph,
    tenant: Tenant,
    as_json: AsJson = False,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Where the evidence is too thin to trust a not_affected: unmapped symbols, unexpected
    edges, targets in no scanned code, disagreements (X)."""
    with client_for(server, tenant, token_file) as client:
        items = list(_pages(client, server, "/api/v1/unknowns", {"graph_hash": graph}))
    if as_json:
        _print_json({"items": items})
        raise typer.Exit(int(ExitCode.OK))
    rows = [[u["kind"], u.get("vuln_id") or "-", u["symbol"], u["detail"]] for u in items]
    sys.stdout.write(_table(rows, ["KIND", "VULN", "SYMBOL", "DETAIL"]))
    raise typer.Exit(int(ExitCode.OK))


@app.command("history")
def history_command(
    graph: Graph,
    vuln: Annotated[str, typer.Option("--vuln", help="The vulnerability id")],
    tenant: Tenant,
    as_json: AsJson = False,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """How a vulnerability's verdicts changed over time: each first state and each change."""
    url = "/api/v1/reachability/verdicts/history"
    with client_for(server, tenant, token_file) as client:
        items = list(_pages(client, server, url, {"graph_hash": graph, "vuln_id": vuln}))
    if as_json:
        _print_json({"items": items})
        raise typer.Exit(int(ExitCode.OK))
    rows = [[h["at"], h["symbol"] or "(package)", h["from"] or "-", h["to"],
             h["evaluation_id"]] for h in items]  # fmt: skip
    sys.stdout.write(_table(rows, ["AT", "SYMBOL", "FROM", "TO", "EVALUATION"]))
    raise typer.Exit(int(ExitCode.OK))


def vex_export_command(
    graph: Graph,
    catalog: CatalogFile,
    fmt: Annotated[
        str, typer.Option("--format", help="openvex or cyclonedx (the server checks it)")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the document")],
    tenant: Tenant,
    product: Annotated[
        str | None, typer.Option("--product", help="What the document is about (a purl)")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Window start (RFC 3339)")] = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Evaluate on the server and write its signed VEX document to OUT and the DSSE envelope
    to OUT.dsse.json (check both offline: `stella vex verify OUT --key service.pem`)."""
    body: dict[str, Any] = {"graph_hash": graph, "catalog": _catalog(catalog),
                            "vex": [fmt]}  # fmt: skip
    if product is not None:
        body["product"] = product
    if _since(since) is not None:
        body["since"] = since
    with client_for(server, tenant, token_file) as client:
        result = _call(client, server, "POST", "/api/v1/reachability/evaluate", json=body).json()
        [vex] = result["vex"]
        document = _call(client, server, "GET", vex["url"]).content
        envelope = _call(client, server, "GET", f"{vex['url']}/dsse").content
    envelope_path = out.with_name(out.name + ENVELOPE_SUFFIX)
    try:
        out.write_bytes(document)
        envelope_path.write_bytes(envelope)
    except OSError as exc:
        fail(f"{out}: {exc.strerror or exc}", ExitCode.USAGE)
    sys.stdout.write(
        f"{fmt} document {vex['id']} (sha256:{vex['sha256']}): {out}\nenvelope: {envelope_path}\n"
    )
    raise typer.Exit(int(ExitCode.OK))
