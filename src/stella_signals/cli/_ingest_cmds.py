"""`stella ingest`: post a runtime trace to the Signals API (runbook §2 step 4)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from stella_signals.cli._client import (
    ServerOption,
    TokenFileOption,
    client_for,
    fail_from_problem,
)
from stella_signals.cli._common import TenantOption, fail
from stella_signals.cli._exit import ExitCode

__all__ = ["ingest_command"]

CHUNK = 1 << 20


def ingest_command(
    trace: Annotated[Path, typer.Argument(help="runtime-trace.ndjson[.gz]")],
    graph_hash: Annotated[str, typer.Option("--graph-hash", help="blake3:<hex> of the graph")],
    tenant: TenantOption,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
    probe_manifest: Annotated[
        Path | None,
        typer.Option(
            "--probe-manifest",
            help="the probe-manifest.json of the trace's window (SPEC §14), sent beside it",
        ),
    ] = None,
    dsse: Annotated[
        Path | None,
        typer.Option(
            "--dsse",
            help="the trace's DSSE envelope (runtime.dsse.json: `stella attest runtime`, or "
            "kept by the probe beside a window it could not deliver), sent beside it",
        ),
    ] = None,
) -> None:
    """Post a runtime trace; print the receipt. Exit 0 ingested or duplicate, 7 queued as
    orphan, else as SPEC §10 (3 hash mismatch, 4 signature invalid, 6 schema invalid, 2
    usage/auth). With ``--probe-manifest`` or ``--dsse`` the trace goes as multipart part
    ``runtime`` beside parts ``probe_manifest`` (the receipt then names it,
    ``probe_manifest_digest``) and ``dsse`` (SPEC §5: checked against the tenant's trusted
    keys; the receipt's ``dsse_digest``)."""
    if not trace.is_file():
        fail(f"{trace}: no such file", ExitCode.USAGE)
    parts: dict[str, tuple[str, bytes, str]] = {}
    for part, path, name in (
        ("probe_manifest", probe_manifest, "probe-manifest.json"),
        ("dsse", dsse, "runtime.dsse.json"),
    ):
        if path is not None:
            if not path.is_file():
                fail(f"{path}: no such file", ExitCode.USAGE)
            parts[part] = (name, path.read_bytes(), "application/json")
    size = trace.stat().st_size
    show = not quiet and sys.stderr.isatty() and size > 8 * CHUNK
    with (
        client_for(server, tenant, token_file) as client,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            disable=not show,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task(f"ingest {trace.name}", total=size)

        def body() -> Iterator[bytes]:
            with trace.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    progress.update(task, advance=len(chunk))
                    yield chunk

        try:
            if not parts:
                response = client.post(
                    "/api/v1/runtime-facts",
                    params={"graph_hash": graph_hash},
                    content=body(),
                    headers={"Content-Type": "application/x-ndjson"},
                )
            else:
                with trace.open("rb") as handle:
                    response = client.post(
                        "/api/v1/runtime-facts",
                        params={"graph_hash": graph_hash},
                        files={
                            "runtime": (trace.name, handle, "application/octet-stream"),
                            **parts,
                        },
                    )
        except httpx.HTTPError as exc:
            fail(f"cannot reach {server}: {exc}", ExitCode.USAGE)
    if response.status_code not in (200, 201, 202):
        fail_from_problem(response)
    receipt = response.json()
    receipt.pop("receipt_dsse", None)
    sys.stdout.write(json.dumps(receipt, indent=2) + "\n")
    duplicate = " (duplicate)" if receipt.get("duplicate") else ""
    sys.stderr.write(
        f"{receipt.get('status')}{duplicate}: ingest {response.headers.get('X-Ingest-Id')}, "
        f"sha256 {response.headers.get('Content-SHA256')}\n"
    )
    raise typer.Exit(int(ExitCode.ORPHAN if response.status_code == 202 else ExitCode.OK))
