"""`stella evidence verify`: check an exported Evidence Locker bundle offline (SPEC §8).

Without ``--service-key`` the receipt must be signed by a service key of the local deployment:
the current and retired keys its database lists, and ``STELLA_SERVICE_KEY_FILE``'s.

Exit codes (SPEC §10), the first that applies: 2 unreadable input or usage (a file that cannot
be read or is not a gzip tar archive at all, a key that is not a PEM public key, no service key
to check against), 3 a hash mismatch (a file differs from checksums.txt, manifest.json or the
signed receipt), 4 a signature missing or invalid (or by a key that is not trusted), 1 any other
problem (layout, listings, documents); 0 every check passed.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer

from stella_signals.attest import InvalidKey, PublicKey, load_public_key, load_signer
from stella_signals.cli._client import ServerOption, TokenFileOption, client_for, fail_from_problem
from stella_signals.cli._common import (
    ConfigOption,
    DatabaseOption,
    ServiceDataDir,
    fail,
    local_settings,
    stderr,
)
from stella_signals.cli._exit import ExitCode, exit_code_for_bundle
from stella_signals.errors import StellaError
from stella_signals.locker import DEFAULT_MAX_EXTRACTED_BYTES, BundleReport, check_bundle
from stella_signals.wiring import open_local_repository

__all__ = ["app"]

_MAX_KEY_FILE_BYTES = 64 * 1024
_SERVICE_KEY_HINT = (
    "pass --service-key PEM (the service's public key, from GET /api/v1/keys/service)"
)

app = typer.Typer(help="Evidence Locker bundles (tar.gz per ingest).", no_args_is_help=True)


@app.command("verify")
def verify_command(
    bundle: Annotated[Path, typer.Argument(help="Evidence bundle (.tar.gz) to check.")],
    service_keys: Annotated[
        list[Path] | None,
        typer.Option(
            "--service-key",
            help="Service public key PEM that signs receipts; repeatable. Without one, the "
            "service keys of the local deployment (current and retired, and "
            "STELLA_SERVICE_KEY_FILE's).",
        ),
    ] = None,
    keys: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            help="Trusted attestation public key PEM for runtime.dsse.json; repeatable. "
            "Without one, its signatures are not checked (its digest and subject still are).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine report.")] = False,
    data_dir: ServiceDataDir = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Check BUNDLE offline: archive safety, checksums.txt, manifest.json, the signed receipt,
    the trace digest and runtime.dsse.json.

    Exit 0 ok, 2 not a readable bundle, 3 hash mismatch, 4 signature missing or invalid, 1 any
    other problem.
    """
    if service_keys:
        trusted_service = [_load_public_key(path) for path in service_keys]
    else:
        trusted_service = _local_service_keys(data_dir, database=database, config=config)
    trusted_attest = [_load_public_key(path) for path in keys or []]
    data = _read_capped(bundle, DEFAULT_MAX_EXTRACTED_BYTES)
    report = check_bundle(data, service_keys=trusted_service, attestation_keys=trusted_attest)
    code = exit_code_for_bundle(report)
    if as_json:
        result = report.to_dict()
        result.update(bundle=str(bundle), exit_code=int(code))
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write("".join(line + "\n" for line in _report_lines(report)))
    raise typer.Exit(int(code))


def _report_lines(report: BundleReport) -> list[str]:
    width = max(len(check.check) for check in report.checks) + 1
    lines: list[str] = []
    for check in report.checks:
        label = f"{check.check}:".ljust(width + 1)
        status = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}[check.status]
        lines.append(f"{label}{status}" + (f" ({check.message})" if check.message else ""))
        for problem in report.problems_of(check.check):
            lines.append(f"  - {problem.path or '(bundle)'}: {problem.message}")
    if report.ok:
        lines.append(
            f"result: ok: ingest {report.ingest_id} of tenant {report.tenant}, "
            f"receipt signed by {', '.join(report.receipt_keyids)}"
        )
    else:
        lines.append(f"result: FAILED: {len(report.problems)} problem(s)")
    return lines


def _read_capped(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``path``: enough for the check to see it is too big."""
    try:
        with path.open("rb") as handle:
            return handle.read(limit + 1)
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}", ExitCode.USAGE)


def _local_service_keys(
    data_dir: Path | None, *, database: str | None, config: Path | None
) -> list[PublicKey]:
    """The receipt keys of the local deployment, read without creating anything: every key
    its database lists (current and retired), and the public half of STELLA_SERVICE_KEY_FILE."""
    try:
        settings = local_settings(data_dir, database=database, config=config)
        repo = open_local_repository(settings)
        if repo is None:
            where, records = f"data dir {settings.data_dir}", []
        else:
            with contextlib.closing(repo):
                where, records = repr(repo), repo.list_service_keys()
        found = {key.keyid: key for key in (load_public_key(r.public_pem) for r in records)}
    except StellaError as exc:
        fail(f"{exc.reason}: {exc}; or {_SERVICE_KEY_HINT}", ExitCode.USAGE)
    if settings.service_key_file:
        key = _service_key_file(Path(settings.service_key_file))
        found[key.keyid] = key
    if not found:
        fail(
            f"no service key to check the receipt against: no --service-key, none in {where}, "
            f"and STELLA_SERVICE_KEY_FILE unset; {_SERVICE_KEY_HINT}",
            ExitCode.USAGE,
        )
    stderr.print(f"service keys of the local deployment: {', '.join(sorted(found))}", markup=False)
    return list(found.values())


def _service_key_file(path: Path) -> PublicKey:
    """The public half of the service's private key file (STELLA_SERVICE_KEY_FILE)."""
    pem = _read_capped(path, _MAX_KEY_FILE_BYTES)
    try:
        return load_signer(pem).public_key
    except InvalidKey as exc:
        fail(f"{path} (STELLA_SERVICE_KEY_FILE): {exc.reason}: {exc}", ExitCode.USAGE)


def _load_public_key(path: Path) -> PublicKey:
    pem = _read_capped(path, _MAX_KEY_FILE_BYTES)  # load_public_key refuses anything longer
    try:
        return load_public_key(pem)
    except InvalidKey as exc:
        fail(f"{path}: {exc.reason}: {exc}", ExitCode.USAGE)


@app.command("export")
def export_command(
    ingest_id: Annotated[str, typer.Argument(help="Ingest id (ULID)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the .tar.gz")],
    tenant: Annotated[str, typer.Option("--tenant", envvar="STELLA_TENANT")],
    server: ServerOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Download an ingest's Evidence Locker bundle (deterministic tar.gz)."""
    with client_for(server, tenant, token_file) as client:
        try:
            response = client.get(f"/api/v1/evidence/{ingest_id}/bundle")
        except httpx.HTTPError as exc:
            fail(f"cannot reach {server}: {exc}", ExitCode.USAGE)
    if response.status_code != 200:
        fail_from_problem(response)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(response.content)
    partial.replace(out)
    sys.stderr.write(f"wrote {out} ({len(response.content)} bytes)\n")
