"""`signals keys ...` and `signals policy ...`: what a tenant trusts (SPEC §5, §13).

Changes are read by every ingest, so they apply at once on a running server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from stella_signals.attest import load_public_key
from stella_signals.cli._common import (
    CasOption,
    ConfigOption,
    DatabaseOption,
    ServiceDataDir,
    fail,
    open_services,
    run_guarded,
    tenant_from,
)
from stella_signals.cli._exit import ExitCode
from stella_signals.ports import KeyPurpose, TenantPolicy, TrustedKey

__all__ = ["keys_app", "policy_app"]

keys_app = typer.Typer(help="Keys a tenant trusts (DSSE attestations, time anchors).")
policy_app = typer.Typer(help="Per-tenant ingest policy (require DSSE, threshold).")

Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id")]
Purpose = Annotated[
    KeyPurpose, typer.Option("--purpose", help="attest (traces, graphs) or time (anchors)")
]


@keys_app.command("add")
def keys_add(
    file: Annotated[Path, typer.Argument(help="Public key PEM (Ed25519 or ECDSA P-256)")],
    tenant: Tenant,
    purpose: Purpose = KeyPurpose.ATTEST,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """Trust a public key for a tenant; prints its keyid."""
    tenant_id = tenant_from(tenant)
    try:
        pem = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}", ExitCode.USAGE)
    key = run_guarded(lambda: load_public_key(pem))
    services = open_services(data_dir, database=database, cas=cas, config=config)
    try:
        created = services.repo.add_trusted_key(
            TrustedKey(
                tenant=tenant_id,
                purpose=purpose,
                keyid=key.keyid,
                public_pem=key.pem,
                added_at=services.clock.now(),
            )
        )
    finally:
        services.close()
    sys.stderr.write(f"{'trusted' if created else 'already trusted'} for {tenant_id} ({purpose})\n")
    sys.stdout.write(f"{key.keyid}\n")


@keys_app.command("list")
def keys_list(
    tenant: Tenant,
    purpose: Purpose = KeyPurpose.ATTEST,
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """List a tenant's trusted keys as JSON lines."""
    tenant_id = tenant_from(tenant)
    services = open_services(data_dir, database=database, cas=cas, config=config)
    try:
        keys = services.repo.list_trusted_keys(tenant_id, purpose, include_revoked=all_keys)
    finally:
        services.close()
    for key in keys:
        sys.stdout.write(
            json.dumps(
                {
                    "keyid": key.keyid,
                    "purpose": key.purpose.value,
                    "added_at": key.added_at.isoformat(),
                    "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
                }
            )
            + "\n"
        )


@keys_app.command("revoke")
def keys_revoke(
    keyid: Annotated[str, typer.Argument()],
    tenant: Tenant,
    purpose: Purpose = KeyPurpose.ATTEST,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """Stop trusting a key (exit 1 when it was not trusted)."""
    tenant_id = tenant_from(tenant)
    services = open_services(data_dir, database=database, cas=cas, config=config)
    try:
        revoked = services.repo.revoke_trusted_key(tenant_id, purpose, keyid, services.clock.now())
    finally:
        services.close()
    if not revoked:
        fail(f"{keyid} is not a trusted {purpose} key of {tenant_id}", ExitCode.CHECK_FAILED)
    sys.stderr.write(f"revoked {keyid}\n")


@policy_app.command("set")
def policy_set(
    tenant: Tenant,
    require_dsse: Annotated[
        bool | None,
        typer.Option(
            "--require-dsse/--no-require-dsse",
            help="Refuse traces without DSSE, or stop refusing them; unchanged when not given.",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold",
            min=1,
            help="Distinct trusted keys that must sign a DSSE; unchanged when not given.",
        ),
    ] = None,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """Change only the given options of a tenant's ingest policy and print the policy in force."""
    tenant_id = tenant_from(tenant)
    if require_dsse is None and threshold is None:
        fail(
            "nothing to change: give --require-dsse, --no-require-dsse or --threshold N",
            ExitCode.USAGE,
        )

    def change(current: TenantPolicy) -> TenantPolicy:
        return TenantPolicy(
            require_dsse=current.require_dsse if require_dsse is None else require_dsse,
            dsse_threshold=current.dsse_threshold if threshold is None else threshold,
        )

    services = open_services(data_dir, database=database, cas=cas, config=config)
    try:
        policy = services.repo.update_policy(tenant_id, change, services.clock.now())
    finally:
        services.close()
    _print_policy(policy)


@policy_app.command("show")
def policy_show(
    tenant: Tenant,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """Print a tenant's ingest policy."""
    tenant_id = tenant_from(tenant)
    services = open_services(data_dir, database=database, cas=cas, config=config)
    try:
        policy = services.repo.get_policy(tenant_id)
    finally:
        services.close()
    _print_policy(policy)


def _print_policy(policy: TenantPolicy) -> None:
    body = {"require_dsse": policy.require_dsse, "dsse_threshold": policy.dsse_threshold}
    sys.stdout.write(json.dumps(body) + "\n")
