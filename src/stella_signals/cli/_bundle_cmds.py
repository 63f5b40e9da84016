"""`stella bundle create`: the producing side of the air-gap path (SPEC §10, runbook §3).

It writes a runtime bundle that `signals-offline verify-bundle` accepts and
`signals-offline ingest-runtime` ingests: the trace exactly as given (validated first), the
optional DSSE envelope and graph, and a ``manifest.json`` listing each with its SHA-256 and
size. A directory or a deterministic ``.tar.gz`` (the Evidence Locker's writer: sorted
entries, mtime 0, uid/gid 0), built aside and moved into place at the end: an existing output
is never overwritten, and a refusal leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from stella_signals.attest import (
    IN_TOTO_PAYLOAD_TYPE,
    RUNTIME_TRACE_PREDICATE,
    InvalidEnvelope,
    InvalidStatement,
    SignatureInvalid,
    parse_envelope,
    parse_statement,
)
from stella_signals.bundle import (
    BUNDLE_DSSE_NAME,
    BUNDLE_GRAPH_NAME,
    BUNDLE_PROBE_MANIFEST_NAME,
    DEFAULT_MAX_BUNDLE_BYTES,
    MANIFEST_NAME,
    BundleLayout,
    EntryKind,
    ManifestEntry,
    build_manifest,
    write_bundle_archive,
)
from stella_signals.cli._common import fail, read_input, run_guarded, tenant_from
from stella_signals.cli._exit import ExitCode
from stella_signals.clock import format_utc
from stella_signals.errors import HashMismatch, InvalidInput
from stella_signals.graph import canonical_graph, parse_graph
from stella_signals.ingest import parse_graph_hash
from stella_signals.locker import default_trace_name
from stella_signals.trace import check_probe_manifest, parse_trace
from stella_signals.wiring import read_file_chunks

__all__ = ["app"]

app = typer.Typer(help="Air-gap runtime bundles (SPEC §10).", no_args_is_help=True)

TARBALL_SUFFIX = ".tar.gz"
#: Trace diagnostics printed before refusing an invalid trace.
SHOWN = 50
#: Most bytes a tar adds per file (header block + padding), and at its end (end-of-archive
#: blocks + padding to a 10 KiB record).
_TAR_OVERHEAD = 10 << 10


@app.command("create")
def create_command(
    trace: Annotated[Path, typer.Option("--trace", help="runtime-trace.ndjson[.gz] to carry")],
    tenant: Annotated[
        str, typer.Option("--tenant", envvar="STELLA_TENANT", help="The bundle's tenant")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Bundle to write: a new directory, or FILE.tar.gz; never overwritten"
        ),
    ],
    dsse: Annotated[
        Path | None, typer.Option("--dsse", help="DSSE envelope attesting the trace")
    ] = None,
    graph: Annotated[
        str | None,
        typer.Option(
            "--graph",
            help="richgraph-v1 file to carry (its hash goes in the manifest), or a graph hash",
        ),
    ] = None,
    probe_manifest: Annotated[
        Path | None,
        typer.Option(
            "--probe-manifest", help="the probe-manifest.json of the trace's window (SPEC §14)"
        ),
    ] = None,
) -> None:
    """Write a runtime bundle: the trace (validated, kept byte for byte), --dsse as
    runtime.dsse.json, a --graph file as graph.richgraph.json, --probe-manifest as
    probe-manifest.json (it must describe this trace), and manifest.json. The
    manifest's generated_at is SOURCE_DATE_EPOCH when set (reproducible bundles), else now.
    Exit 0 written, 2 usage (output exists, input unreadable), 3 the envelope attests other
    bytes, 4 the envelope is not a runtime-trace attestation for the tenant, 6 invalid trace
    or graph, or a tarball over the bundle limit (1 GiB)."""
    tenant_id = tenant_from(tenant)
    if os.path.lexists(out):
        fail(f"{out}: already exists; bundles are never overwritten", ExitCode.USAGE)
    if not trace.is_file():
        fail(f"{trace}: no such file", ExitCode.USAGE)
    extra: dict[str, bytes] = {}
    if dsse is not None:
        extra[BUNDLE_DSSE_NAME] = read_input(dsse)
    graph_hash = ""
    if graph is not None:
        graph_hash, graph_bytes = _graph(graph)
        if graph_bytes is not None:
            extra[BUNDLE_GRAPH_NAME] = graph_bytes
    if probe_manifest is not None:
        extra[BUNDLE_PROBE_MANIFEST_NAME] = read_input(probe_manifest)
    generated_at = _generated_at()
    with _staging(out) as staging:
        trace_name = _copy_trace(trace, staging)
        copied = staging / trace_name
        report = run_guarded(lambda: parse_trace(read_file_chunks(copied), name=trace.name))
        if not report.valid:
            for diagnostic in report.diagnostics[:SHOWN]:
                sys.stderr.write(f"{diagnostic}\n")
            fail(f"{trace}: not a valid runtime trace (see `stella trace validate`)",
                 ExitCode.SCHEMA_INVALID)  # fmt: skip
        entries = [ManifestEntry(trace_name, report.sha256, report.size)]
        if BUNDLE_DSSE_NAME in extra:
            run_guarded(lambda: _check_attests(extra[BUNDLE_DSSE_NAME], report.sha256, tenant_id))
        if BUNDLE_PROBE_MANIFEST_NAME in extra:
            run_guarded(
                lambda: check_probe_manifest(extra[BUNDLE_PROBE_MANIFEST_NAME], report.sha256)
            )
        for name, data in sorted(extra.items()):
            (staging / name).write_bytes(data)
            entries.append(ManifestEntry.of(name, data))
        manifest = run_guarded(
            lambda: build_manifest(
                tenant=tenant_id, graph_hash=graph_hash, generated_at=generated_at, files=entries
            )
        )
        (staging / MANIFEST_NAME).write_bytes(manifest)
        if out.name.endswith(TARBALL_SUFFIX):
            _publish_tarball(staging, out)
        else:
            _publish_directory(staging, out)
    sys.stderr.write(f"bundle for tenant {tenant_id}: {len(entries)} files + manifest.json\n")
    sys.stdout.write(f"{out}\n")


def _graph(value: str) -> tuple[str, bytes | None]:
    """(graph hash, graph bytes to carry) of a --graph file, or (hash, None) of a hash."""
    path = Path(value)
    if path.is_file():
        data = read_input(path)
        return str(run_guarded(lambda: canonical_graph(parse_graph(data))).hash), data
    try:
        return str(parse_graph_hash(value)), None
    except InvalidInput:
        fail(f"--graph {value}: neither a graph file nor a graph hash", ExitCode.USAGE)


def _generated_at() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return format_utc(datetime.now(UTC))
    if not epoch.isdigit():
        fail(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds", ExitCode.USAGE)
    return format_utc(datetime.fromtimestamp(int(epoch), UTC))


def _check_attests(envelope_bytes: bytes, trace_sha256: str, tenant: str) -> None:
    """The envelope is a runtime-trace attestation of this trace for this tenant. Its
    signatures are checked where the bundle is ingested, against the keys trusted there."""
    try:
        envelope = parse_envelope(envelope_bytes)
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise SignatureInvalid(f"{BUNDLE_DSSE_NAME}: payload type {envelope.payload_type}")
        statement = parse_statement(envelope.payload)
    except (InvalidEnvelope, InvalidStatement) as exc:
        raise SignatureInvalid(f"--dsse is not a runtime-trace attestation: {exc}") from None
    if statement.predicate_type != RUNTIME_TRACE_PREDICATE:
        raise SignatureInvalid(f"--dsse attests a {statement.predicate_type}, not a trace")
    if trace_sha256 not in statement.subject_digests("sha256"):
        raise HashMismatch(f"--dsse does not attest this trace (sha256 {trace_sha256})")
    if statement.predicate.get("tenant") != tenant:
        raise SignatureInvalid(
            f"--dsse is for tenant {statement.predicate.get('tenant')!r}, not {tenant}"
        )


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A fresh directory beside ``out``, removed at the end whatever happens."""
    parent = out.absolute().parent
    if not parent.is_dir():
        fail(f"{parent}: no such directory", ExitCode.USAGE)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_trace(trace: Path, staging: Path) -> str:
    """Copy the trace into the staging directory under its bundle name; returns the name."""
    with trace.open("rb") as source:
        name = default_trace_name(source.read(2))
    try:
        shutil.copyfile(trace, staging / name)
    except OSError as exc:
        fail(f"{trace}: {exc.strerror or exc}", ExitCode.USAGE)
    return name


def _publish_directory(staging: Path, out: Path) -> None:
    try:
        os.rename(staging, out)  # fails on an existing non-empty directory
    except OSError as exc:
        fail(f"{out}: {exc.strerror or exc}", ExitCode.USAGE)


def _publish_tarball(staging: Path, out: Path) -> None:
    """The staged files as one deterministic .tar.gz, if `read_bundle_archive` can read it
    back (the bundle layout rule, with room for the tar headers and padding)."""
    names = sorted(p.name for p in staging.iterdir())
    layout = BundleLayout(max_bytes=DEFAULT_MAX_BUNDLE_BYTES - _TAR_OVERHEAD * (len(names) + 1))
    for name in names:
        size = (staging / name).stat().st_size
        run_guarded(lambda: layout.admit(name, EntryKind.FILE, size))  # noqa: B023 - called at once
    data = write_bundle_archive({name: (staging / name).read_bytes() for name in names})
    written = staging / ".bundle.tar.gz"
    written.write_bytes(data)
    try:
        os.link(written, out)  # atomic, and never replaces an existing file
    except FileExistsError:
        fail(f"{out}: already exists; bundles are never overwritten", ExitCode.USAGE)
    except OSError as exc:
        fail(f"{out}: {exc.strerror or exc}", ExitCode.USAGE)
