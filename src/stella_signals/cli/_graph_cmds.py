"""`stella graph hash|import|verify|scan`: static graphs and the runbook's step 6 (SPEC §3, §9)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Table

from stella_signals.cli._client import TokenFileOption, client_for
from stella_signals.cli._common import (
    ConfigOption,
    DatabaseOption,
    DataDirOption,
    fail,
    local_settings,
    open_services,
    read_input,
    run_guarded,
    stderr,
    tenant_from,
    write_atomically,
)
from stella_signals.cli._exit import ExitCode
from stella_signals.digests import Digest
from stella_signals.errors import HashMismatch, LimitExceeded, NotFound, StellaError
from stella_signals.graph import (
    VerifyReport,
    canonical_graph,
    load_canonical,
    map_trace,
    parse_graph,
)
from stella_signals.ingest import GraphCatalog, ingest_graph, parse_graph_hash
from stella_signals.pyscan import installed_distributions, project_sources, scan_sources
from stella_signals.tenancy import TenantId
from stella_signals.trace import parse_trace
from stella_signals.wiring import local_graph_catalog, open_local_repository, read_file_chunks

__all__ = ["app", "catalog_for"]

T = TypeVar("T")

app = typer.Typer(help="Static call graphs (richgraph-v1).", no_args_is_help=True)

#: How many items of each list the human report shows.
SHOWN = 50


def catalog_for(data_dir: Path) -> GraphCatalog:
    return local_graph_catalog(data_dir)


@app.command("hash")
def hash_command(file: Annotated[Path, typer.Argument(help="richgraph-v1 JSON")]) -> None:
    """Print the graph hash (blake3:<hex>) of a richgraph-v1 document."""
    data = read_input(file)
    canonical = run_guarded(lambda: load_canonical(data))
    sys.stdout.write(f"{canonical.hash}\n")


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="richgraph-v1 JSON")],
    tenant: Annotated[str, typer.Option("--tenant", envvar="STELLA_TENANT")],
    data_dir: DataDirOption = Path("data"),
    as_json: Annotated[bool, typer.Option("--json")] = False,
    dsse: Annotated[
        Path | None, typer.Option("--dsse", help="DSSE envelope attesting the graph")
    ] = None,
) -> None:
    """Validate, hash, store (cas://reachability/graphs/<hex>) and index a graph, and record
    it (reach.graph.ingested) in the local store, as POST /api/v1/graphs does."""
    tenant_id = tenant_from(tenant)
    data = read_input(file)
    envelope = read_input(dsse) if dsse is not None else None
    with open_services(data_dir) as services:
        imported = run_guarded(
            lambda: ingest_graph(
                services.ingest_context("stella-cli"), tenant_id, data, dsse=envelope
            )
        )
    body = {
        "graph_hash": str(imported.graph_hash),
        "cas_uri": str(imported.cas_uri),
        "size": len(data),
        "created": imported.created,
        "nodes": imported.nodes,
        "edges": imported.edges,
    }
    if as_json:
        sys.stdout.write(json.dumps(body, sort_keys=True) + "\n")
    else:
        sys.stderr.write(
            f"{'stored' if imported.created else 'already stored'}: {imported.cas_uri} "
            f"({body['nodes']} nodes, {body['edges']} edges)\n"
        )
        sys.stdout.write(f"{imported.graph_hash}\n")


@app.command("scan")
def scan_command(
    paths: Annotated[list[Path], typer.Argument(help="Project directories or script files", min=1)],
    purl: Annotated[
        str | None,
        typer.Option(
            "--purl", help="purl of the project's own code (default pkg:generic/<folder>)"
        ),
    ] = None,
    include_installed: Annotated[
        bool,
        typer.Option(
            "--include-installed", help="Also scan the distributions PYTHON has installed"
        ),
    ] = False,
    python: Annotated[
        Path | None,
        typer.Option("--python", help="Interpreter or venv directory (default: this one)"),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout")] = None,
) -> None:
    """Build a richgraph-v1 call graph of a Python project from its source (SPEC §14)."""
    if python is not None and not include_installed:
        fail("--python needs --include-installed", ExitCode.USAGE)
    files, entry_points = _input(lambda: project_sources(paths, purl))
    dists = _input(lambda: installed_distributions(python)) if include_installed else []
    result = scan_sources(files, entry_points, dists)
    data = json.dumps(result.document, ensure_ascii=False).encode("utf-8")
    canonical = run_guarded(lambda: canonical_graph(parse_graph(data)))
    if out is None:
        sys.stdout.buffer.write(canonical.data + b"\n")
        sys.stdout.flush()
    else:
        write_atomically(out, canonical.data + b"\n")
    analyzer = result.document["analyzer"]
    sys.stderr.write(
        f"{canonical.hash}: {result.files} files, {result.lines} lines, "
        f"{len(canonical.document['nodes'])} nodes, {len(canonical.document['edges'])} edges, "
        f"unresolved {sum(analyzer['unresolved'].values())}\n"
    )


def _graph_from_file(file: Path) -> tuple[str, bool, Any]:
    """(hash, hash_ok, index) for a graph given as a file; hash_ok is False when the document
    claims a top-level graph_hash that differs from its real one."""
    data = read_input(file)
    canonical = _input(lambda: load_canonical(data))
    claimed = canonical.claimed_hash
    ok = claimed is None or _same_hash(claimed, str(canonical.hash))
    return str(canonical.hash), ok, canonical.index()


def _input(action: Callable[[], T]) -> T:
    """For verify every bad input is exit 2 (SPEC §9), whatever its kind."""
    try:
        return action()
    except StellaError as exc:
        for detail in getattr(exc, "problems", ()):
            sys.stderr.write(f"{detail}\n")
        fail(f"{exc.reason}: {exc}", ExitCode.USAGE)


def _same_hash(claimed: str, actual: str) -> bool:
    try:
        return str(parse_graph_hash(claimed)) == actual
    except StellaError:
        return False


@app.command("verify")
def verify_command(
    runtime: Annotated[Path, typer.Option("--runtime", help="runtime-trace.ndjson[.gz]")],
    graph: Annotated[str, typer.Option("--graph", help="graph hash, or a richgraph-v1 file")],
    tenant: Annotated[str | None, typer.Option("--tenant", envvar="STELLA_TENANT")] = None,
    data_dir: DataDirOption = Path("data"),
    server: Annotated[
        str | None, typer.Option("--server", envvar="STELLA_SERVER", help="Signals API URL")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the SPEC §9 report")] = False,
    token_file: TokenFileOption = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Which runtime symbols and edges map onto the static graph (runbook §2 step 6).

    A graph hash without --tenant is looked up across the tenants of the local deployment
    (the data dir, or --database): the one tenant that has it is used.

    Exit 0 all mapped, 1 some unmapped, 2 input error (bad trace, graph not found, hash
    mismatch, a graph several tenants have and no --tenant).
    """
    if server:
        _verify_on_server(runtime, graph, server, tenant, token_file, as_json)
    graph_file = Path(graph)
    if graph_file.is_file():
        graph_hash, hash_ok, index = _graph_from_file(graph_file)
    else:
        digest = _input(lambda: parse_graph_hash(graph))
        if tenant is None:
            tenant_id = _only_tenant_with(digest, data_dir, database=database, config=config)
        else:
            tenant_id = tenant_from(tenant)
        try:
            loaded = catalog_for(data_dir).load(tenant_id, digest)
        except NotFound as exc:
            fail(f"graph not found: {exc}", ExitCode.USAGE)
        except HashMismatch as exc:
            fail(f"graph hash mismatch: {exc}", ExitCode.USAGE)
        except StellaError as exc:
            fail(f"{exc.reason}: {exc}", ExitCode.USAGE)
        graph_hash, hash_ok, index = str(digest), True, loaded.index
    if not runtime.is_file():
        fail(f"{runtime}: no such file", ExitCode.USAGE)
    try:
        trace = parse_trace(read_file_chunks(runtime), name=runtime.name)
    except LimitExceeded as exc:
        fail(f"{runtime}: {exc}", ExitCode.USAGE)
    if not trace.valid:
        for error in trace.errors[:SHOWN]:
            sys.stderr.write(f"{error}\n")
        fail(f"{runtime}: invalid trace ({trace.error_count} errors)", ExitCode.USAGE)
    report = map_trace(trace, index, graph_hash_ok=hash_ok)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        _print_report(report)
    if not hash_ok:
        if not as_json:
            sys.stderr.write(
                f"graph hash mismatch: the document claims another hash than {graph_hash}\n"
            )
        raise typer.Exit(int(ExitCode.USAGE))
    raise typer.Exit(int(ExitCode.OK if report.all_mapped else ExitCode.CHECK_FAILED))


def _only_tenant_with(
    graph_hash: Digest, data_dir: Path, *, database: str | None, config: Path | None
) -> TenantId:
    """The one tenant of the local deployment that has ``graph_hash``: with no --tenant (and
    no --server: across tenants only locally, never over HTTP). None or several is exit 2."""
    settings = _input(lambda: local_settings(data_dir, database=database, config=config))
    repo = _input(lambda: open_local_repository(settings))
    where = f"data dir {settings.data_dir}" if repo is None else repr(repo)
    tenants: list[TenantId] = []
    if repo is not None:
        with contextlib.closing(repo):
            tenants = _input(lambda: repo.tenants_with_graph(str(graph_hash)))
    if not tenants:
        fail(f"graph not found: no tenant of {where} has graph {graph_hash}", ExitCode.USAGE)
    if len(tenants) > 1:
        fail(
            f"graph {graph_hash} is held by several tenants ({', '.join(tenants)}): "
            "pass --tenant to say which",
            ExitCode.USAGE,
        )
    stderr.print(f"tenant {tenants[0]}: the only one with graph {graph_hash}", markup=False)
    return tenants[0]


def _verify_on_server(
    runtime: Path,
    graph: str,
    server: str,
    tenant: str | None,
    token_file: Path | None,
    as_json: bool,
) -> NoReturn:
    """POST /api/v1/graphs/{hash}/verify: the server maps the trace onto its indexed graph."""
    if tenant is None:
        fail("--tenant is needed with --server", ExitCode.USAGE)
    digest = _input(lambda: parse_graph_hash(graph))
    if not runtime.is_file():
        fail(f"{runtime}: no such file", ExitCode.USAGE)
    with client_for(server, tenant, token_file) as client:
        try:
            response = client.post(
                f"/api/v1/graphs/{digest}/verify",
                content=read_file_chunks(runtime),
                headers={"Content-Type": "application/x-ndjson"},
            )
        except httpx.HTTPError as exc:
            fail(f"cannot reach {server}: {exc}", ExitCode.USAGE)
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        fail(f"HTTP {response.status_code} {body.get('reason', '')}: {body.get('detail', '')}",
             ExitCode.USAGE)  # fmt: skip
    data: dict[str, Any] = response.json()
    report = VerifyReport.from_dict(data)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        _print_report(report)
    raise typer.Exit(int(ExitCode.OK if report.all_mapped else ExitCode.CHECK_FAILED))


def _print_report(report: VerifyReport) -> None:
    console = Console(highlight=False, soft_wrap=True)
    table = Table(title=f"graph {report.graph_hash}", show_header=True)
    table.add_column("", style="bold")
    table.add_column("observed", justify="right")
    table.add_column("total", justify="right")
    table.add_row("symbols mapped", str(report.mapped_symbols), str(report.unique_symbols))
    table.add_row("nodes", str(report.nodes_observed), str(report.nodes_total))
    table.add_row("edges confirmed", str(report.edges_confirmed), str(report.edges_total))
    table.add_row("edges observed", str(report.edges_observed), str(report.edges_total))
    table.add_row("roots", str(report.roots_observed), str(report.roots_total))
    console.print(table)
    console.print(
        f"records: {report.records}   unique symbols: {report.unique_symbols}   "
        f"unmapped: {report.unmapped_symbols}   purl mismatches: {len(report.purl_mismatches)}   "
        f"unexpected edges: {len(report.unexpected_edges)}   "
        f"graph hash ok: {'yes' if report.graph_hash_ok else 'NO'}"
    )
    if report.unmapped:
        console.print("\n[bold]unmapped symbols[/] (symbol_id, purl, count)")
        for item in report.unmapped[:SHOWN]:
            console.print(f"  {item.symbol_id}  {item.purl}  {item.count}", markup=False)
        _rest(console, len(report.unmapped))
    if report.purl_mismatches:
        console.print("\n[bold]purl mismatches[/] (symbol_id: trace purl ≠ graph purl)")
        for m in report.purl_mismatches[:SHOWN]:
            console.print(f"  {m.symbol_id}: {m.trace_purl} ≠ {m.graph_purl}", markup=False)
        _rest(console, len(report.purl_mismatches))
    if report.unexpected_edges:
        console.print(
            "\n[bold]unexpected edges[/] (run time, not in the graph: caller → callee, count)"
        )
        for e in report.unexpected_edges[:SHOWN]:
            console.print(f"  {e.caller_symbol_id} → {e.symbol_id}  {e.count}", markup=False)
        _rest(console, len(report.unexpected_edges))


def _rest(console: Console, total: int) -> None:
    if total > SHOWN:
        console.print(f"  ... and {total - SHOWN} more (--json lists them all)")
