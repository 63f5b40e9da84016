"""Talking to a Signals server: the options every `stella` server command takes (SPEC §10)
and one HTTP client, with the problem+json answers turned into the error tree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from stella_signals.cli._common import fail, run_guarded
from stella_signals.cli._exit import ExitCode
from stella_signals.tenancy import parse_tenant
from stella_signals.textfile import read_text_file

__all__ = ["ServerOption", "TokenFileOption", "client_for", "fail_from_problem"]

ServerOption = Annotated[
    str | None, typer.Option("--server", envvar="STELLA_SERVER", help="Signals API base URL")
]
TokenFileOption = Annotated[
    Path | None,
    typer.Option("--token-file", help="File holding the bearer token (or env STELLA_TOKEN)"),
]

#: problem+json reason → exit code (SPEC §10).
_EXIT_BY_REASON = {
    "hash_mismatch": ExitCode.HASH_MISMATCH,
    "dsse_invalid": ExitCode.SIGNATURE_INVALID,
    "dsse_required": ExitCode.SIGNATURE_INVALID,
    "stale_time_anchor": ExitCode.TIME_UNTRUSTED,
    "clock_drift": ExitCode.TIME_UNTRUSTED,
    "schema_invalid": ExitCode.SCHEMA_INVALID,
    "decompression_failed": ExitCode.SCHEMA_INVALID,
    "too_large": ExitCode.SCHEMA_INVALID,
    # sync: the site's signature is missing or not one the tenant trusts for sync
    "sync_unsigned": ExitCode.SIGNATURE_INVALID,
    "sync_untrusted_key": ExitCode.SIGNATURE_INVALID,
    "sync_evidence_mismatch": ExitCode.SIGNATURE_INVALID,
}


def read_token(token_file: Path | None) -> str:
    """The bearer token from ``--token-file`` (else ``STELLA_TOKEN``): one line of printable
    ASCII; anything else (a binary file, several words) is a usage error (exit 2)."""
    if token_file is not None:
        where = f"token file {token_file}"
        token = run_guarded(lambda: read_text_file(token_file, what="token file")).strip()
    else:
        where = "STELLA_TOKEN"
        token = os.environ.get("STELLA_TOKEN", "").strip()
    if not token:
        fail("a token is needed: --token-file FILE or STELLA_TOKEN", ExitCode.USAGE)
    if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        fail(f"{where}: not a bearer token (one word of printable ASCII)", ExitCode.USAGE)
    return token


def client_for(server: str | None, tenant: str, token_file: Path | None) -> httpx.Client:
    if not server:
        fail("--server URL (or STELLA_SERVER) is needed", ExitCode.USAGE)
    try:
        parse_tenant(tenant)
    except Exception as exc:
        fail(str(exc), ExitCode.USAGE)
    return httpx.Client(
        base_url=server.rstrip("/"),
        headers={
            "Authorization": f"Bearer {read_token(token_file)}",
            "X-Stella-Tenant": tenant,
            "User-Agent": "stella-cli",
        },
        timeout=httpx.Timeout(600.0, connect=10.0),
    )


def fail_from_problem(response: httpx.Response) -> None:
    """Print a problem+json answer and exit with the matching code."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        fail(f"HTTP {response.status_code}: {response.text[:500]}", ExitCode.CHECK_FAILED)
    for item in body.get("errors", [])[:50]:
        typer.echo(
            f"line {item.get('line')}: {item.get('field') or '-'}: {item.get('reason')}", err=True
        )
    reason = str(body.get("reason", ""))
    code = _EXIT_BY_REASON.get(reason)
    if code is None:
        code = (
            ExitCode.USAGE
            if response.status_code in (400, 401, 403, 404)
            else ExitCode.CHECK_FAILED
        )
    fail(f"HTTP {response.status_code} {reason}: {body.get('detail', '')}", code)
