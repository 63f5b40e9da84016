"""`signals-offline`: the air-gap path (runbook §3, SPEC §10).

A runtime bundle (`runtime-trace.ndjson.gz`, `manifest.json`, optional `runtime.dsse.json`,
`graph.richgraph.json` and `probe-manifest.json`) is checked against its manifest and ingested
through the same pipeline as the API; only the context differs (``source: signals-offline``).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from stella_signals.bundle import (
    BUNDLE_DSSE_NAME,
    BUNDLE_GRAPH_NAME,
    BUNDLE_PROBE_MANIFEST_NAME,
    MANIFEST_NAME,
    BundleManifest,
    LayoutProblem,
    ManifestEntry,
    attested_trace,
    check_bundle_files,
    parse_manifest,
    read_bundle_archive,
)
from stella_signals.cli._bundle_dir import directory_bundle_paths, read_bundle_directory
from stella_signals.cli._client import (
    ServerOption,
    TokenFileOption,
    client_for,
    fail_from_problem,
)
from stella_signals.cli._common import (
    fail,
    local_settings,
    open_services,
    read_input,
    root_callback,
    run_guarded,
    tenant_from,
    unwrap_help,
)
from stella_signals.cli._exit import ExitCode, exit_code_for
from stella_signals.clock import format_utc
from stella_signals.digests import sha256_hex
from stella_signals.errors import HashMismatch, InvalidManifest, StellaError
from stella_signals.ids import new_ulid
from stella_signals.ingest import (
    IngestFailed,
    Outcome,
    RuntimeUpload,
    enforce_trace_attestation,
    evidence_record,
    import_anchor,
    ingest_graph,
    ingest_runtime,
    ingest_symbol_manifest,
    parse_graph_hash,
    record_rejection,
    sign_event_batch,
)
from stella_signals.locker import export_bundle
from stella_signals.ports import IngestRecord
from stella_signals.receipt import with_envelope
from stella_signals.tenancy import TenantId
from stella_signals.wiring import Services, open_local_repository, read_file_chunks

__all__ = ["app", "main"]

SOURCE = "signals-offline"

app = typer.Typer(
    name="signals-offline",
    help="Air-gap tools: runtime bundles, offline ingest, receipts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Tenant = Annotated[str, typer.Option("--tenant", envvar="STELLA_TENANT", help="Tenant id")]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="State directory (env STELLA_DATA_DIR)")
]


root_callback(
    app,
    "signals-offline",
    "Air-gap tools (SPEC §10). Exit codes: 0 ok, 1 check failed, 2 usage or unreadable, "
    "3 hash mismatch, 4 signature invalid or missing, 5 stale time, 6 schema invalid, 7 orphan.",
)


def _with_progress(path: Path) -> Iterator[bytes]:
    """The file's chunks, with a progress bar on a terminal for long imports."""
    size = path.stat().st_size
    if not sys.stderr.isatty() or size < (64 << 20):
        yield from read_file_chunks(path)
        return
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"import {path.name}", total=size)
        for chunk in read_file_chunks(path):
            progress.update(task, advance=len(chunk))
            yield chunk


def _bundled(path: Path, entry: ManifestEntry) -> bytes:
    """A bundle file's bytes, checked against its manifest entry."""
    if not path.is_file():
        raise InvalidManifest(f"{entry.path} is listed in manifest.json but {path} is absent")
    data = read_input(path)  # unreadable: a usage error, like any file named on the line
    entry.check(sha256=sha256_hex(data), size=len(data))
    return data


def _check_bundle_directory(
    bundle: BundleManifest, directory: Path, supplied: set[str], checked: set[str]
) -> None:
    """The manifest's directory is the bundle: it obeys verify-bundle's rules (regular files
    only, none unlisted, none listed but absent unless ``supplied`` on the command line),
    and its listed files but the ``checked`` ones match their entries."""
    present = directory_bundle_paths(directory)
    problems = bundle.layout_problems(present, supplied=supplied)
    if problems:
        raise InvalidManifest(
            f"bundle {directory}: " + "; ".join(str(problem) for problem in problems)
        )
    for entry in bundle.files:
        if entry.path in present and entry.path not in checked:
            _bundled(directory / entry.path, entry)


def _manifest(path: Path, tenant: TenantId, graph_hash: str | None) -> BundleManifest:
    manifest = run_guarded(lambda: parse_manifest(read_input(path)))
    if manifest.tenant != tenant:
        fail(f"{path}: bundle is for tenant {manifest.tenant!r}, not {tenant}", ExitCode.USAGE)
    if graph_hash is not None and manifest.graph_hash:
        same = run_guarded(lambda: str(parse_graph_hash(manifest.graph_hash))) == graph_hash
        if not same:
            fail(
                f"{path}: bundle is for graph {manifest.graph_hash}, not {graph_hash}",
                ExitCode.USAGE,
            )
    return manifest


@app.command("ingest-runtime")
def ingest_runtime_command(
    tenant: Tenant,
    graph_hash: Annotated[str, typer.Option("--graph-hash", help="blake3:<hex>")],
    runtime: Annotated[Path, typer.Option("--runtime", help="runtime-trace.ndjson[.gz]")],
    manifest: Annotated[Path, typer.Option("--manifest", help="The bundle's manifest.json")],
    dsse: Annotated[Path | None, typer.Option("--dsse", help="runtime.dsse.json")] = None,
    data_dir: DataDir = None,
    receipt_out: Annotated[
        Path | None, typer.Option("--receipt-out", help="Write the receipt here")
    ] = None,
) -> None:
    """Check a runtime bundle against its manifest, then ingest it (runbook §3 steps 2-5).

    The bundle's own runtime.dsse.json, graph.richgraph.json and probe-manifest.json, when
    its manifest lists them, are used too: the envelope is verified (unless --dsse names
    another), the graph is imported first when the tenant does not have it yet, and the probe
    manifest must describe the trace (then the receipt names it). The manifest's directory
    is the bundle and obeys verify-bundle's rules: regular files only (no links, devices or
    FIFOs), every file listed, every listed file present (the trace and --dsse may be given
    from elsewhere)."""
    tenant_id = tenant_from(tenant)
    digest = run_guarded(lambda: parse_graph_hash(graph_hash), argument=True)
    bundle = _manifest(manifest, tenant_id, str(digest))
    if not runtime.is_file():
        fail(f"{runtime}: no such file", ExitCode.USAGE)
    trace_entry = run_guarded(lambda: bundle.entry_for(runtime.name))
    if dsse is not None and not dsse.is_file():
        fail(f"{dsse}: no such file", ExitCode.USAGE)
    supplied = {trace_entry.path}
    if dsse is not None:
        explicit = dsse
        supplied.add(run_guarded(lambda: bundle.entry_for(explicit.name)).path)
    if dsse is None and bundle.listed(BUNDLE_DSSE_NAME) is not None:
        dsse = manifest.parent / BUNDLE_DSSE_NAME
    graph_file = manifest.parent / BUNDLE_GRAPH_NAME
    graph_entry = bundle.listed(BUNDLE_GRAPH_NAME)
    probe_entry = bundle.listed(BUNDLE_PROBE_MANIFEST_NAME)
    probe_manifest = None
    with open_services(data_dir) as services:
        ctx = services.ingest_context(SOURCE)
        ingest_id = new_ulid(services.clock)
        envelope = None
        try:
            # the trace is checked while it streams through the pipeline
            _check_bundle_directory(bundle, manifest.parent, supplied, {trace_entry.path})
            if runtime.stat().st_size != trace_entry.size:
                raise HashMismatch(
                    f"{runtime.name}: size is {runtime.stat().st_size} bytes but manifest.json "
                    f"lists {trace_entry.size}"
                )
            if dsse is not None:
                envelope = _bundled(dsse, bundle.entry_for(dsse.name))
            if probe_entry is not None:
                probe_manifest = _bundled(manifest.parent / probe_entry.path, probe_entry)
            if graph_entry is not None:  # checked even when the tenant has the graph
                graph = _bundled(graph_file, graph_entry)
                if services.graph_records.get_graph(tenant_id, str(digest)) is None:
                    ingest_graph(ctx, tenant_id, graph, expect=digest)
        except StellaError as error:
            failed = record_rejection(
                ctx,
                tenant=tenant_id,
                ingest_id=ingest_id,
                error=error,
                received_at=services.clock.now(),
                graph_hash=str(digest),
            )
            fail(f"{failed.reason}: {error}", exit_code_for(error))
        upload = RuntimeUpload(
            tenant=tenant_id,
            ingest_id=ingest_id,
            graph_hash=digest,
            body=_with_progress(runtime),
            declared_sha256=trace_entry.sha256,
            name=runtime.name,
            dsse=envelope,
            probe_manifest=probe_manifest,
        )
        try:
            result = ingest_runtime(ctx, upload)
        except IngestFailed as failed:
            for diagnostic in failed.diagnostics[:50]:
                sys.stderr.write(f"{diagnostic}\n")
            fail(f"{failed.reason}: {failed.cause}", exit_code_for(failed.cause))
    text = json.dumps(with_envelope(result.receipt, result.receipt_dsse), indent=2) + "\n"
    if receipt_out is not None:
        receipt_out.write_text(text)
    sys.stdout.write(text)
    attached = " (DSSE attached: a new receipt version)" if result.attached else ""
    sys.stderr.write(f"{result.outcome.value}: ingest {result.ingest_id}{attached}\n")
    raise typer.Exit(int(ExitCode.ORPHAN if result.outcome is Outcome.ORPHANED else ExitCode.OK))


@app.command("verify-bundle")
def verify_bundle_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.gz")],
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", envvar="STELLA_TENANT", help="Also check it is this tenant's"),
    ] = None,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check every file of a runtime bundle against its manifest.json: listed files present
    with their size and sha256, no unlisted file. With --tenant, the bundle must be that
    tenant's and its runtime.dsse.json, if any, must verify with the keys the tenant trusts
    here (--data-dir). Exit 0 ok, 3 hash or size mismatch, 4 signature invalid,
    6 manifest or archive invalid (incl. missing, unlisted or escaping paths), 2 unreadable
    or another tenant's."""
    files = run_guarded(lambda: _bundle_files(bundle))
    if MANIFEST_NAME not in files:
        fail(f"{bundle}: no manifest.json", ExitCode.SCHEMA_INVALID)
    report = run_guarded(lambda: check_bundle_files(files))
    manifest = report.manifest
    tenant_id = tenant_from(tenant) if tenant is not None else None
    if tenant_id is not None and manifest.tenant != tenant_id:
        fail(f"{bundle}: bundle is for tenant {manifest.tenant!r}, not {tenant_id}", ExitCode.USAGE)
    code = ExitCode.HASH_MISMATCH if report.hash_mismatch else ExitCode.SCHEMA_INVALID
    if report.ok:
        code = ExitCode.OK
        if tenant_id is not None and BUNDLE_DSSE_NAME in files:
            problem = _bundle_signature_problem(manifest, files, tenant_id, data_dir)
            if problem is not None:
                report = report.with_problem(problem)
                code = ExitCode.SIGNATURE_INVALID
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        for problem in report.problems:
            sys.stdout.write(f"{problem}\n")
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
        sys.stdout.write(f"{bundle}: {verdict}\n")
    raise typer.Exit(int(code))


def _bundle_signature_problem(
    manifest: BundleManifest, files: Mapping[str, bytes], tenant: TenantId, data_dir: Path | None
) -> LayoutProblem | None:
    """Why the bundle's runtime.dsse.json does not attest its trace for ``tenant`` with the
    keys trusted here, or None when it does."""
    trace = attested_trace(manifest)
    if isinstance(trace, LayoutProblem):
        return trace
    repo = open_local_repository(local_settings(data_dir))
    if repo is None:
        detail = f"no deployment in {data_dir or 'the data dir'} to take {tenant}'s keys from"
        return LayoutProblem(BUNDLE_DSSE_NAME, "dsse_invalid", detail)
    with contextlib.closing(repo):
        try:
            enforce_trace_attestation(repo, tenant, files[BUNDLE_DSSE_NAME], trace.sha256)
        except StellaError as exc:
            return LayoutProblem(BUNDLE_DSSE_NAME, exc.reason, str(exc))
    return None


def _bundle_files(bundle: Path) -> Mapping[str, bytes]:
    """The files of a bundle directory or .tar.gz, by path relative to the bundle: one rule
    for both (`stella_signals.bundle.BundleLayout`)."""
    if bundle.is_dir():
        return read_bundle_directory(bundle)
    if not bundle.is_file():
        fail(f"{bundle}: no such bundle", ExitCode.USAGE)
    return read_bundle_archive(read_input(bundle))


@app.command("import-graph")
def import_graph_command(
    file: Annotated[Path, typer.Argument(help="richgraph-v1 JSON")],
    tenant: Tenant,
    dsse: Annotated[Path | None, typer.Option("--dsse", help="Envelope attesting it")] = None,
    data_dir: DataDir = None,
) -> None:
    """Import a static graph (orphans waiting for it are ingested at once)."""
    tenant_id = tenant_from(tenant)
    data, envelope = read_input(file), (read_input(dsse) if dsse is not None else None)
    with open_services(data_dir) as services:
        result = run_guarded(
            lambda: ingest_graph(services.ingest_context(SOURCE), tenant_id, data, dsse=envelope)
        )
    sys.stdout.write(f"{result.graph_hash}\n")


@app.command("import-symbols")
def import_symbols_command(
    file: Annotated[Path, typer.Argument(help="SYMBOL_MANIFEST/v1 JSON")],
    tenant: Tenant,
    data_dir: DataDir = None,
) -> None:
    """Validate a symbol manifest for the tenant, store it in the CAS and record it (a
    ``symbols.manifest.ingested`` event the first time)."""
    tenant_id = tenant_from(tenant)
    data = read_input(file)
    with open_services(data_dir) as services:
        result = run_guarded(
            lambda: ingest_symbol_manifest(services.ingest_context(SOURCE), tenant_id, data)
        )
    sys.stdout.write(f"{result.cas_uri}\n")


@app.command("export-receipt")
def export_receipt_command(
    ingest_id: Annotated[str, typer.Argument(help="Ingest id (ULID)")],
    tenant: Tenant,
    data_dir: DataDir = None,
) -> None:
    """Print an ingest's signed receipt (for the Evidence Locker once reconnected)."""
    from stella_signals.ids import parse_ulid

    tenant_id = tenant_from(tenant)
    ingest_id = run_guarded(lambda: parse_ulid(ingest_id), argument=True)
    with open_services(data_dir) as services:
        record = services.ingests.get_ingest(tenant_id, ingest_id)
    if record is None or record.receipt is None:
        fail(f"no receipt for ingest {ingest_id} of {tenant_id}", ExitCode.USAGE)
    receipt = with_envelope(record.receipt, record.receipt_dsse)
    sys.stdout.write(json.dumps(receipt, indent=2) + "\n")


@app.command("sync")
def sync_command(
    tenant: Tenant,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    data_dir: DataDir = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=500)] = 200,
    max_batches: Annotated[
        int | None, typer.Option("--max-batches", min=1, help="Stop after N requests")
    ] = None,
) -> None:
    """Push this site's events and evidence to the Signals API once reconnected (runbook §3
    step 5). Idempotent: what the server has is skipped; an interrupted sync resumes.

    Evidence goes first, then the events, in batches signed with this site's service key:
    the online tenant must trust that key for sync (`signals keys export-service` here,
    then `signals keys add --purpose sync` there)."""
    tenant_id = tenant_from(tenant)
    with open_services(data_dir) as services:
        state_file = services.settings.data_dir / "sync" / f"{tenant_id}.json"
        state = _load_state(state_file)
        sent = 0
        with client_for(server, tenant_id, token_file) as client:
            # Events are taken before the evidence: each ingest event's evidence is then
            # pushed before the event, as the server requires.
            events = [
                e for e in services.timeline.iter_events(tenant_id) if e.seq > state["last_seq"]
            ]
            ctx = services.ingest_context(SOURCE)
            for record in _all_ingests(services, tenant_id):
                if max_batches is not None and sent >= max_batches:
                    break
                if record.ingest_id in state["evidence"] or record.receipt_dsse is None:
                    continue
                bundle = export_bundle(evidence_record(ctx, tenant_id, record.ingest_id))
                _post(client, "/api/v1/evidence/import", bundle, "application/gzip")
                state["evidence"].append(record.ingest_id)
                _save_state(state_file, state)
                sent += 1
            for start in range(0, len(events), batch_size):
                if max_batches is not None and sent >= max_batches:
                    break
                batch = events[start : start + batch_size]
                signed = sign_event_batch(services.service_key.signer, batch)
                _post(client, "/api/v1/timeline/import", signed, "application/json")
                state["last_seq"] = batch[-1].seq
                _save_state(state_file, state)
                sent += 1
    sys.stderr.write(
        f"synced: events up to seq {state['last_seq']}, {len(state['evidence'])} evidence "
        f"records ({sent} requests), signed by site key {services.service_key.keyid}\n"
    )


def _post(client: httpx.Client, path: str, data: bytes, media: str) -> None:
    try:
        response = client.post(path, content=data, headers={"Content-Type": media})
    except httpx.HTTPError as exc:
        fail(f"cannot reach the server: {exc} (run sync again to resume)", ExitCode.USAGE)
    if response.status_code not in (200, 201):
        fail_from_problem(response)


def _all_ingests(services: Services, tenant: TenantId) -> list[IngestRecord]:
    records: list[IngestRecord] = []
    after = None
    while True:
        page = services.ingests.list_ingests(
            tenant, graph_hash=None, status=None, after=after, limit=500
        )
        records += page
        if len(page) < 500:
            return records
        after = page[-1].ingest_id


def _load_state(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return {"last_seq": 0, "evidence": []}
    except (OSError, ValueError) as exc:
        fail(f"{path}: unreadable sync state ({exc})", ExitCode.USAGE)
    return state


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(state))
    partial.replace(path)


time_app = typer.Typer(help="Signed time anchors (air-gap time, SPEC §11).", no_args_is_help=True)
app.add_typer(time_app, name="time-anchor")


@time_app.command("import")
def time_anchor_import(
    file: Annotated[Path, typer.Argument(help="Time anchor (DSSE envelope)")],
    tenant: Tenant,
    data_dir: DataDir = None,
) -> None:
    """Verify an anchor with the tenant's trusted time keys and keep it. A replayed (not
    newer) anchor or an untrusted signature is refused (exit 4); one dated ahead of this
    host's clock or older than the current anchor too (exit 5)."""
    tenant_id = tenant_from(tenant)
    data = read_input(file)
    with open_services(data_dir) as services:
        anchor = run_guarded(lambda: import_anchor(services.trust, services.clock, tenant_id, data))
    sys.stdout.write(
        json.dumps(
            {"counter": anchor.counter, "anchor_time": format_utc(anchor.anchor_time),
             "source": anchor.source, "keyids": list(anchor.keyids)}
        )
        + "\n"
    )  # fmt: skip


@time_app.command("status")
def time_anchor_status(tenant: Tenant, data_dir: DataDir = None) -> None:
    """Print the tenant's time status (mode, staleness, drift; blocked or not); writes
    nothing. Exit 5 when ingest would be blocked."""
    tenant_id = tenant_from(tenant)
    with open_services(data_dir) as services:
        status = services.time.status(tenant_id, record=False)
    sys.stdout.write(json.dumps(status.to_dict(), indent=2) + "\n")
    raise typer.Exit(int(ExitCode.TIME_UNTRUSTED if status.blocked else ExitCode.OK))


unwrap_help(app)  # after the last command: help paragraphs without hard line breaks


def main() -> None:
    app()
