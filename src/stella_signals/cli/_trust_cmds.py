"""`signals keys ...` and `signals policy ...`: what a tenant trusts (SPEC §5, §13).

Changes are read by every ingest, so they apply at once on a running server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from stella_signals.attest import InvalidKey, load_public_key, load_public_keys
from stella_signals.cli._common import (
    CasOption,
    ConfigOption,
    DatabaseOption,
    ServiceDataDir,
    fail,
    open_services,
    read_input,
    tenant_from,
)
from stella_signals.cli._exit import ExitCode, exit_code_for
from stella_signals.ports import KeyPurpose, TenantPolicy

__all__ = ["keys_app", "policy_app"]

keys_app = typer.Typer(
    help="Keys a tenant trusts (DSSE attestations, time anchors, offline sites), and the "
    "deployment's own service key."
)
policy_app = typer.Typer(help="Per-tenant ingest policy (require DSSE, threshold).")

Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id")]
Purpose = Annotated[
    KeyPurpose,
    typer.Option(
        "--purpose",
        help="attest (traces, graphs), time (anchors) or sync (an offline site's service key: "
        "its event batches and receipts)",
    ),
]


@keys_app.command("add")
def keys_add(
    file: Annotated[
        Path,
        typer.Argument(help="Public key PEM (Ed25519 or ECDSA P-256); several keys per file"),
    ],
    tenant: Tenant,
    purpose: Purpose = KeyPurpose.ATTEST,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """Trust the public key(s) of a PEM file for a tenant; prints each keyid. A file of
    several keys (`signals keys export-service`: current and retired) trusts them all."""
    tenant_id = tenant_from(tenant)
    pem = read_input(file)
    try:
        keys = load_public_keys(pem)
    except InvalidKey as exc:  # a private key is a usage mistake (2); garbage: schema (6)
        code = ExitCode.USAGE if exc.reason == "private_key_given" else exit_code_for(exc)
        fail(f"{file}: {exc.reason}: {exc}", code)
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        for key in keys:
            created = services.trust_key(tenant_id, purpose, key)
            state = "trusted" if created else "already trusted"
            sys.stderr.write(f"{key.keyid}: {state} for {tenant_id} ({purpose})\n")
            sys.stdout.write(f"{key.keyid}\n")


@keys_app.command("export-service")
def keys_export_service(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the PEM here (default: stdout)")
    ] = None,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
    cas: CasOption = None,
) -> None:
    """Write the deployment's public service keys as PEM, current first, then retired ones:
    what an online tenant trusts for an offline site's sync (`signals keys add --purpose
    sync`) and what `stella evidence verify --service-key` takes. Public halves only."""
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        current = services.service_key
        records = services.service_keys.list_service_keys()
    retired = sorted(
        (r for r in records if r.keyid != current.keyid), key=lambda r: (r.created_at, r.keyid)
    )
    pem = current.public_pem + b"".join(
        load_public_key(r.public_pem).pem for r in retired
    )  # each re-read: only a public key can come out of here
    if out is None:
        sys.stdout.write(pem.decode())
    else:
        try:
            out.write_bytes(pem)
        except OSError as exc:
            fail(f"{out}: {exc.strerror or exc}", ExitCode.USAGE)
    sys.stderr.write(f"{current.keyid} (current)\n")
    for record in retired:
        sys.stderr.write(f"{record.keyid} (retired)\n")


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
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        keys = services.trust.list_trusted_keys(tenant_id, purpose, include_revoked=all_keys)
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
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        revoked = services.trust.revoke_trusted_key(tenant_id, purpose, keyid, services.clock.now())
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

    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        policy = services.trust.update_policy(tenant_id, change, services.clock.now())
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
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        policy = services.trust.get_policy(tenant_id)
    _print_policy(policy)


def _print_policy(policy: TenantPolicy) -> None:
    body = {"require_dsse": policy.require_dsse, "dsse_threshold": policy.dsse_threshold}
    sys.stdout.write(json.dumps(body) + "\n")
