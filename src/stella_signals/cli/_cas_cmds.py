"""`stella cas put|get`: stage evidence in the content-addressed store (runbook §2 step 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from stella_signals.cas import Namespace, parse_cas_uri
from stella_signals.cli._common import (
    DataDirOption,
    TenantOption,
    fail,
    run_guarded,
    tenant_from,
)
from stella_signals.cli._exit import ExitCode
from stella_signals.errors import LimitExceeded
from stella_signals.ports import BlobStore, StoredBlob
from stella_signals.tenancy import TenantId
from stella_signals.trace import parse_trace
from stella_signals.wiring import local_blob_store, read_file_chunks

__all__ = ["app", "stage_trace"]

app = typer.Typer(help="The content-addressed store (cas://).", no_args_is_help=True)


def stage_trace(store: BlobStore, tenant: TenantId, file: Path) -> StoredBlob:
    """Validate ``file`` then store it at ``cas://reachability/runtime/<sha256>``.

    The file is hashed while it is parsed and again while it is staged: a file that changed in
    between is refused (`HashMismatch`) and nothing is stored. An invalid trace is never stored.
    """
    report = parse_trace(read_file_chunks(file), name=file.name)
    report.raise_for_errors()
    return store.put(tenant, Namespace.RUNTIME, read_file_chunks(file), expected_hex=report.sha256)


@app.command("put")
def put_command(
    file: Annotated[Path, typer.Argument(help="runtime-trace.ndjson[.gz] to stage")],
    tenant: TenantOption,
    data_dir: DataDirOption = Path("data"),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Validate a runtime trace and stage it in the CAS; print its cas:// URI."""
    tenant_id = tenant_from(tenant)
    if not file.is_file():
        fail(f"{file}: no such file", ExitCode.USAGE)
    store = local_blob_store(data_dir)
    try:
        stored = run_guarded(lambda: stage_trace(store, tenant_id, file))
    except LimitExceeded as exc:  # pragma: no cover - run_guarded maps it
        fail(str(exc), ExitCode.SCHEMA_INVALID)
    if as_json:
        body = {
            "cas_uri": str(stored.uri),
            "sha256": stored.sha256,
            "size": stored.size,
            "created": stored.created,
            "tenant": tenant_id,
        }
        sys.stdout.write(json.dumps(body, sort_keys=True) + "\n")
        return
    state = "stored" if stored.created else "already stored"
    sys.stderr.write(f"{state}: {stored.size} bytes, sha256 {stored.sha256}\n")
    sys.stdout.write(f"{stored.uri}\n")


@app.command("get")
def get_command(
    uri: Annotated[str, typer.Argument(help="cas://<namespace>/<hex>")],
    tenant: TenantOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write ('-' for stdout)")],
    data_dir: DataDirOption = Path("data"),
) -> None:
    """Read a blob back, verifying its digest while streaming."""
    tenant_id = tenant_from(tenant)
    cas_uri = run_guarded(lambda: parse_cas_uri(uri), argument=True)
    store = local_blob_store(data_dir)

    def copy() -> None:
        chunks = store.open(tenant_id, cas_uri)
        if str(out) == "-":
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            return
        partial = out.with_name(out.name + ".partial")
        try:
            with partial.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
        except BaseException:
            partial.unlink(missing_ok=True)  # never leave half-verified bytes behind
            raise
        partial.replace(out)

    run_guarded(copy)
