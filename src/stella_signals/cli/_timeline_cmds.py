"""`stella timeline verify`: recompute a tenant's hash chain and name the first broken link."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer

from stella_signals.cli._client import ServerOption, TokenFileOption, client_for, fail_from_problem
from stella_signals.cli._common import fail
from stella_signals.cli._exit import ExitCode
from stella_signals.errors import StellaError
from stella_signals.timeline import check_chain, read_events_ndjson

__all__ = ["app"]

app = typer.Typer(help="The tenant timeline (hash-chained events).", no_args_is_help=True)


@app.command("verify")
def verify_command(
    file: Annotated[
        Path | None, typer.Argument(help="An NDJSON export (GET /api/v1/timeline/export)")
    ] = None,
    server: ServerOption = None,
    tenant: Annotated[str | None, typer.Option("--tenant", envvar="STELLA_TENANT")] = None,
    token_file: TokenFileOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute every event hash and link.

    Exit 0 sound, 1 broken (the first break is named) or no events on the server, 2 unreadable
    or empty input, or usage. Each event imported from an offline site is listed with the site
    key that vouched for it.
    """
    if (file is None) == (server is None):
        fail("give either an export FILE or --server URL", ExitCode.USAGE)
    if file is not None:
        try:
            handle = file.open("rb")
        except OSError as exc:
            fail(f"{file}: {exc.strerror or exc}", ExitCode.USAGE)
        with handle:
            report = _check(iter(handle), tenant)
    else:
        if tenant is None:
            fail("--tenant is needed with --server", ExitCode.USAGE)
        with client_for(server, tenant, token_file) as client:
            try:
                with client.stream("GET", "/api/v1/timeline/export") as response:
                    if response.status_code != 200:
                        response.read()
                        fail_from_problem(response)
                    report = _check((ln.encode() for ln in response.iter_lines()), tenant)
            except httpx.HTTPError as exc:
                fail(f"cannot reach {server}: {exc}", ExitCode.USAGE)
    if report.events_checked == 0:  # nothing was verified: never call that intact
        if file is not None:
            fail(f"{file}: no events: an empty export proves nothing", ExitCode.USAGE)
        fail(f"tenant {tenant} has no events on {server}: nothing to verify",
             ExitCode.CHECK_FAILED)  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        for origin in report.imported:  # sync: which site key vouched for each import
            sys.stdout.write(f"{origin.message}\n")
        sys.stdout.write(f"{report.message}\n")
    raise typer.Exit(int(ExitCode.OK if report.ok else ExitCode.CHECK_FAILED))


def _check(lines: Iterator[bytes], tenant: str | None):  # type: ignore[no-untyped-def]
    try:
        return check_chain(read_events_ndjson(lines), tenant=tenant)
    except StellaError as exc:
        fail(f"{exc.reason}: {exc}", ExitCode.USAGE)
