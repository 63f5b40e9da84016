"""`signals tokens create | list | revoke`: bearer tokens (SPEC §6, §13).

A token's secret is printed once, by ``create``, alone on the last line of stdout; only its
SHA-256 is stored, so nothing can print it again. Tokens are named by their public id (a
ULID). Every server asks the store on every request, so a revocation or an expiry holds on
every server of the deployment from the next request on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from stella_signals.auth import TOKEN_PREFIX, TokenRequest, TokenStatus
from stella_signals.cli._common import (
    CasOption,
    ConfigOption,
    DatabaseOption,
    ServiceDataDir,
    fail,
    open_services,
    tenant_from,
)
from stella_signals.cli._exit import ExitCode
from stella_signals.clock import format_utc
from stella_signals.errors import InvalidInput
from stella_signals.ids import parse_ulid

__all__ = ["tokens_app"]

T = TypeVar("T")

tokens_app = typer.Typer(help="Bearer tokens.", no_args_is_help=True)


def _usage(action: Callable[[], T]) -> T:
    """Run ``action``; an invalid option value is a usage error (exit 2)."""
    try:
        return action()
    except InvalidInput as exc:
        fail(str(exc), ExitCode.USAGE)


@tokens_app.command("create")
def tokens_create(
    tenant: Annotated[list[str], typer.Option("--tenant", help="Tenant the token allows")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="signals:read|write|admin; repeat it, list several after it, or comma-separate",
        ),
    ],
    more_scopes: Annotated[
        list[str] | None,
        typer.Argument(hidden=True, metavar="SCOPE", help="more scopes: --scope a b"),
    ] = None,
    expires_in: Annotated[
        str | None,
        typer.Option("--expires-in", help="Expire after this long: 90d, 12h, 1h30m, 2w"),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option("--expires-at", help="Expire at this RFC 3339 time (Z or an offset)"),
    ] = None,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """Create a bearer token; it is printed once, alone on the last line of stdout.

    Scopes: --scope a --scope b, --scope a b or --scope a,b (SPEC §13). Without --expires-in
    or --expires-at the token lasts until revoked."""
    tenants = frozenset(tenant_from(t) for t in tenant)
    request = _usage(
        lambda: TokenRequest.parse(
            [*scope, *(more_scopes or [])], expires_in=expires_in, expires_at=expires_at
        )
    )
    if request.expires_in is not None and request.expires_at is not None:
        fail("give --expires-in or --expires-at, not both", ExitCode.USAGE)
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        issued = _usage(lambda: services.issue_token(tenants=tenants, request=request))
    expiry = issued.record.expires_at
    until = f"expires {format_utc(expiry)}" if expiry is not None else "no expiry"
    sys.stderr.write(
        f"token {issued.token_id} for {', '.join(sorted(tenants))} "
        f"({', '.join(sorted(request.scopes))}; {until}); it is shown once:\n"
    )
    sys.stdout.write(f"{issued.secret}\n")


@tokens_app.command("list")
def tokens_list(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only tokens that allow this tenant")
    ] = None,
    all_tokens: Annotated[
        bool, typer.Option("--all", help="Include revoked and expired tokens")
    ] = False,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """List tokens as JSON lines, never a secret nor its hash.

    Fields: token_id, tenants, scopes, created_at, expires_at, revoked_at, status
    (active|expired|revoked). Active tokens only, unless --all."""
    tenant_id = tenant_from(tenant) if tenant is not None else None
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        records = services.tokens.list_tokens(tenant=None)
        now = services.clock.now()
    for record in records:
        if tenant_id is not None and tenant_id not in record.tenants:
            continue
        if not all_tokens and record.status(now) is not TokenStatus.ACTIVE:
            continue
        sys.stdout.write(json.dumps(record.public_view(now)) + "\n")


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="TOKEN_ID", help="As `tokens list` shows")],
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """Revoke a token: every server refuses it (401) from its next request on.

    Exit 0 also when it was already revoked (its first revocation time stays), 1 when there
    is no such token, 2 for a malformed id."""
    if token_id.startswith(TOKEN_PREFIX):  # never echo a secret back
        fail("that is a token's secret, not its id: find the id with `signals tokens list`",
             ExitCode.USAGE)  # fmt: skip
    token_id = _usage(lambda: parse_ulid(token_id))
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        now = services.clock.now()
        record = services.tokens.revoke_token(token_id, tenant=None, at=now)
    if record is None or record.revoked_at is None:
        fail(f"no token {token_id}", ExitCode.CHECK_FAILED)
    if record.revoked_at != now:
        sys.stderr.write(
            f"token {token_id} was already revoked at {format_utc(record.revoked_at)}\n"
        )
        return
    sys.stderr.write(f"revoked token {token_id} ({', '.join(sorted(record.tenants))})\n")
