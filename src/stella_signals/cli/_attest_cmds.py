"""`stella keys generate` and `stella attest runtime|verify`: sign and check trace attestations.

SPEC §5 (the envelope), §10 (exit codes), §13 (key files).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from stella_signals.attest import (
    Envelope,
    InvalidEnvelope,
    InvalidKey,
    PublicKey,
    RuntimeAttestationReport,
    Signer,
    check_runtime_attestation,
    generate_private_key_pem,
    graph_statement,
    load_public_key,
    load_signer,
    parse_envelope,
    public_key_pem,
    runtime_trace_statement,
    sign_graph,
    sign_runtime_trace,
    write_private_key,
)
from stella_signals.cli._common import fail, read_input, run_guarded, stderr, tenant_from
from stella_signals.cli._exit import ExitCode
from stella_signals.clock import format_utc
from stella_signals.digests import Algorithm, new_hasher, parse_digest
from stella_signals.errors import InvalidDigest, LimitExceeded
from stella_signals.graph import canonical_graph, parse_graph
from stella_signals.timeanchor import mint_anchor
from stella_signals.trace import parse_trace
from stella_signals.wire import Rfc3339, parse_rfc3339
from stella_signals.wiring import read_file_chunks

__all__ = ["attest_app", "keys_app"]

T = TypeVar("T")

PRIVATE_KEY_FILE = "key.pem"
PUBLIC_KEY_FILE = "key.pub.pem"

keys_app = typer.Typer(
    help="Signing keys (Ed25519 or ECDSA P-256 PEM files).", no_args_is_help=True
)
attest_app = typer.Typer(
    help="DSSE attestations of runtime traces (runtime.dsse.json).", no_args_is_help=True
)


class KeyType(StrEnum):
    ED25519 = "ed25519"
    ECDSA_P256 = "ecdsa-p256"


# --- stella keys generate ---------------------------------------------------------------------


@keys_app.command("generate")
def generate_command(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for key.pem and key.pub.pem (created).")
    ],
    key_type: Annotated[KeyType, typer.Option("--type", help="Key algorithm.")] = KeyType.ED25519,
) -> None:
    """Write a new private key DIR/key.pem (mode 0600) and DIR/key.pub.pem; print the keyid.

    Refuses to overwrite either file. Exit 0 written, 2 usage error or a file exists.
    """
    private_path, public_path = out / PRIVATE_KEY_FILE, out / PUBLIC_KEY_FILE
    if out.exists() and not out.is_dir():
        fail(f"{out}: not a directory", ExitCode.USAGE)
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            fail(f"{path}: already exists; refusing to overwrite", ExitCode.USAGE)
    private_pem = generate_private_key_pem(key_type.value)
    public_pem = public_key_pem(private_pem)
    signer = load_signer(private_pem)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_key(private_path, private_pem)
    except FileExistsError:
        fail(f"{private_path}: already exists; refusing to overwrite", ExitCode.USAGE)
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}", ExitCode.USAGE)
    try:
        _write_file(public_path, public_pem, replace=False)
    except OSError as exc:
        private_path.unlink(missing_ok=True)  # ours: written just above
        if isinstance(exc, FileExistsError):
            fail(f"{public_path}: already exists; refusing to overwrite", ExitCode.USAGE)
        fail(f"{public_path}: {exc.strerror or exc}", ExitCode.USAGE)
    stderr.print(
        f"wrote {private_path} (private, mode 0600) and {public_path} ({key_type.value})",
        markup=False,
    )
    sys.stdout.write(f"{signer.keyid}\n")


# --- stella attest runtime --------------------------------------------------------------------

#: The options `attest runtime` and `attest graph` share.
SigningKeyOption = Annotated[
    Path, typer.Option("--key", help="Private key PEM (Ed25519 or ECDSA P-256).")
]
RequiredTenantOption = Annotated[
    str | None,
    typer.Option("--tenant", envvar="STELLA_TENANT", help="Tenant id (SPEC §1); required."),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace an existing bundle.")]


@attest_app.command("runtime")
def runtime_command(
    trace: Annotated[Path, typer.Argument(help="runtime-trace.ndjson[.gz] to attest")],
    key: SigningKeyOption,
    bundle: Annotated[Path, typer.Option("--bundle", help="Where to write runtime.dsse.json.")],
    tenant: RequiredTenantOption = None,
    graph_hash: Annotated[
        str | None, typer.Option("--graph-hash", help="blake3:<hex> of the trace's graph.")
    ] = None,
    force: ForceOption = False,
) -> None:
    """Sign an in-toto Statement about TRACE as a DSSE envelope (SPEC §5).

    Exit 0 written, 6 the trace is invalid (nothing written), 2 unreadable input, usage
    error or an existing bundle without --force.
    """
    if tenant is None:
        fail("a tenant is required: --tenant or STELLA_TENANT", ExitCode.USAGE)
    tenant_id = tenant_from(tenant)
    if graph_hash is not None:
        given = graph_hash
        graph_hash = _usage_guarded(lambda: _blake3(given))
    if not trace.is_file():
        fail(f"{trace}: no such file", ExitCode.USAGE)
    _refuse_to_overwrite(bundle, force=force)
    signer = _load_signer(key)
    try:
        report = parse_trace(read_file_chunks(trace), name=trace.name)
    except LimitExceeded as exc:
        fail(f"{trace}: {exc.reason}: {exc} (limit {exc.limit})", ExitCode.SCHEMA_INVALID)
    except OSError as exc:
        fail(f"{trace}: {exc.strerror or exc}", ExitCode.USAGE)
    statement = run_guarded(
        lambda: runtime_trace_statement(
            file_name=trace.name, report=report, tenant=tenant_id, graph_hash=graph_hash
        )
    )
    envelope = sign_runtime_trace(statement=statement, signers=[signer])
    _write_output(bundle, envelope.to_json(), force=force)
    out = sys.stdout
    out.write(f"keyid:   {signer.keyid}\n")
    out.write(f"subject: {trace.name} sha256:{report.sha256}\n")
    out.write(f"wrote:   {bundle}\n")


@attest_app.command("graph")
def graph_command(
    graph: Annotated[Path, typer.Argument(help="richgraph-v1 JSON to attest")],
    key: SigningKeyOption,
    bundle: Annotated[Path, typer.Option("--bundle", help="Where to write graph.dsse.json.")],
    tenant: RequiredTenantOption = None,
    force: ForceOption = False,
) -> None:
    """Sign an in-toto Statement about a graph's canonical form (subject: its blake3 hash,
    predicate https://stella-ops.org/attestations/richgraph/v1). Exit 0, 6 invalid graph,
    2 unreadable input or usage."""
    if tenant is None:
        fail("a tenant is required: --tenant or STELLA_TENANT", ExitCode.USAGE)
    tenant_id = tenant_from(tenant)
    _refuse_to_overwrite(bundle, force=force)
    signer = _load_signer(key)
    data = read_input(graph)
    canonical = run_guarded(lambda: canonical_graph(parse_graph(data)))
    statement = graph_statement(graph_hash=canonical.hash, tenant=tenant_id, name=graph.name)
    envelope = sign_graph(statement=statement, signers=[signer])
    _write_output(bundle, envelope.to_json(), force=force)
    sys.stdout.write(f"keyid:   {signer.keyid}\nsubject: {graph.name} {canonical.hash}\n")
    sys.stdout.write(f"wrote:   {bundle}\n")


# --- stella attest verify ---------------------------------------------------------------------


@attest_app.command("verify")
def verify_command(
    bundle: Annotated[Path, typer.Argument(help="runtime.dsse.json to check")],
    runtime: Annotated[Path, typer.Option("--runtime", help="The trace the bundle attests.")],
    keys: Annotated[
        list[Path],
        typer.Option("--key", help="Trusted public key PEM; repeat for several keys."),
    ],
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant", envvar="STELLA_TENANT", help="Expected tenant; unchecked when absent."
        ),
    ] = None,
    threshold: Annotated[
        int, typer.Option("--threshold", min=1, help="Distinct trusted keys that must sign.")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine report.")] = False,
) -> None:
    """Check a runtime-trace attestation: who signed, subject digest, predicate type, tenant.

    Exit 0 ok, 4 signature invalid or missing (also a malformed envelope, a wrong predicate
    or tenant), 3 the subject digest is not the trace's sha256, 2 unreadable input or usage.
    """
    tenant_id = None if tenant is None else tenant_from(tenant)
    trusted = [_load_public_key(path) for path in keys]
    trace_sha256 = _sha256_of(runtime)
    data = read_input(bundle)
    try:
        envelope: Envelope | None = parse_envelope(data)
        envelope_error = None
    except InvalidEnvelope as exc:
        envelope, envelope_error = None, str(exc)

    if envelope is None:
        code = ExitCode.SIGNATURE_INVALID
        result: dict[str, Any] = {
            "ok": False,
            "reason": "dsse_invalid",
            "message": f"malformed DSSE envelope: {envelope_error}",
            "trace_sha256": trace_sha256,
        }
        text = [f"envelope: MALFORMED: {envelope_error}"]
    else:
        report = check_runtime_attestation(
            envelope,
            trusted=trusted,
            threshold=threshold,
            trace_sha256=trace_sha256,
            tenant=tenant_id,
        )
        code = _exit_code(report)
        result = report.to_dict()
        text = _report_lines(report, trusted)
    result.update(bundle=str(bundle), trace=str(runtime), exit_code=int(code))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    else:
        verdict = "ok" if code is ExitCode.OK else f"FAILED ({result['reason']})"
        text.append(f"result:    {verdict}: {result['message']}")
        sys.stdout.write("".join(line + "\n" for line in text))
    raise typer.Exit(int(code))


def _exit_code(report: RuntimeAttestationReport) -> ExitCode:
    if report.ok:
        return ExitCode.OK
    if report.reason == "hash_mismatch":
        return ExitCode.HASH_MISMATCH
    return ExitCode.SIGNATURE_INVALID


def _report_lines(report: RuntimeAttestationReport, trusted: list[PublicKey]) -> list[str]:
    env = report.envelope
    kinds = {key.keyid: key.kind for key in trusted}
    lines = [f"payload:   {env.payload_type} (expected {env.expected_payload_type})"]
    for check in env.signatures:
        hint = check.keyid_hint or "(no keyid)"
        if check.verified_by is not None:
            lines.append(
                f"signature {check.index}: verified by {check.verified_by} "
                f"({kinds.get(check.verified_by, '?')})"
            )
        else:
            reason = check.reason.value if check.reason else "failed"
            lines.append(f"signature {check.index}: FAILED {reason} (keyid hint {hint})")
    lines.append(f"signers:   {len(env.keyids)} of {env.threshold} required trusted key(s)")
    statement = report.statement
    unverified = "" if report.statement_verified else " [UNVERIFIED: signatures did not check]"
    if statement is None:
        lines.append(f"statement: INVALID: {report.statement_error}")
    else:
        verdict = "ok" if report.predicate_type_ok else "WRONG"
        lines.append(f"predicate: {statement.predicate_type} ({verdict}){unverified}")
        if report.predicate_error is not None:
            lines.append(f"predicate: INVALID: {report.predicate_error}")
        for subject in statement.subject:
            digest = subject.digest.get("sha256")
            match = "matches the trace" if digest == report.trace_sha256 else "differs"
            lines.append(f"subject:   {subject.name} sha256:{digest or '-'} ({match})")
    lines.append(f"trace:     sha256:{report.trace_sha256}")
    claimed = report.statement_tenant
    if report.expected_tenant is None:
        lines.append(f"tenant:    {claimed!r} (not checked: no --tenant)")
    elif report.tenant_ok:
        lines.append(f"tenant:    {report.expected_tenant} (ok)")
    else:
        lines.append(
            f"tenant:    MISMATCH: statement says {claimed!r}, expected {report.expected_tenant}"
        )
    return lines


@attest_app.command("time-anchor")
def time_anchor_command(
    key: Annotated[Path, typer.Option("--key", help="The time authority's private key PEM.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the anchor envelope.")],
    counter: Annotated[
        int, typer.Option("--counter", min=1, help="Must exceed every anchor minted before.")
    ],
    source: Annotated[
        str, typer.Option("--source", help="Where the time came from.")
    ] = "stella-attest",
    at: Annotated[
        str | None,
        typer.Option("--time", help="RFC 3339 time to assert (default: this machine's clock)."),
    ] = None,
    valid_for: Annotated[
        int, typer.Option("--valid-for", min=1, help="Seconds the anchor vouches for.")
    ] = 86_400,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Sign a time anchor (SPEC §11) for a sealed site: the time authority's tool.

    Import it with `signals-offline time-anchor import FILE --tenant T` where the key is
    trusted with --purpose time. Exit 0 written, 2 unreadable key, bad time or usage.
    """
    _refuse_to_overwrite(out, force=force)
    signer = _load_signer(key)
    try:
        moment = datetime.now(UTC) if at is None else _aware(at)
        envelope = mint_anchor(
            anchor_time=moment,
            source=source,
            counter=counter,
            valid_for_seconds=valid_for,
            signer=signer,
        )
    except ValueError as exc:
        fail(f"invalid anchor: {exc}", ExitCode.USAGE)
    _write_output(out, envelope, force=force)
    sys.stdout.write(f"keyid:   {signer.keyid}\n")
    sys.stdout.write(f"time:    {format_utc(moment)} (counter {counter})\n")
    sys.stdout.write(f"wrote:   {out}\n")


def _aware(text: str) -> datetime:
    moment = parse_rfc3339(text, Rfc3339.FULL)
    if moment is None:
        raise ValueError(
            f"--time needs an RFC 3339 time with Z or an offset (e.g. 2027-01-31T00:00:00Z): "
            f"{text!r}"
        )
    return moment


# --- helpers ----------------------------------------------------------------------------------


def _usage_guarded(action: Callable[[], T]) -> T:
    """Run ``action``; an invalid option value is a usage error (exit 2)."""
    try:
        return action()
    except (InvalidDigest, InvalidKey) as exc:
        fail(f"{exc.reason}: {exc}", ExitCode.USAGE)


def _blake3(text: str) -> str:
    digest = parse_digest(text, default=Algorithm.BLAKE3)
    if digest.algorithm is not Algorithm.BLAKE3:
        raise InvalidDigest(f"--graph-hash must be blake3:<hex>, got {text!r}")
    return str(digest)


def _load_signer(path: Path) -> Signer:
    pem = read_input(path)
    return _usage_guarded(lambda: load_signer(pem))


def _load_public_key(path: Path) -> PublicKey:
    pem = read_input(path)
    return _usage_guarded(lambda: load_public_key(pem))


def _sha256_of(path: Path) -> str:
    hasher = new_hasher(Algorithm.SHA256)
    try:
        for chunk in read_file_chunks(path):
            hasher.update(chunk)
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}", ExitCode.USAGE)
    return hasher.hexdigest()


def _refuse_to_overwrite(path: Path, *, force: bool) -> None:
    """Exit 2 before any work when ``path`` exists and --force was not given."""
    if not force and (path.exists() or path.is_symlink()):
        fail(f"{path}: already exists; use --force to replace it", ExitCode.USAGE)


def _write_output(path: Path, data: bytes, *, force: bool) -> None:
    """`_write_file` for a command's output file; every failure is a usage error (exit 2)."""
    try:
        _write_file(path, data, replace=force)
    except FileExistsError:
        fail(f"{path}: already exists; use --force to replace it", ExitCode.USAGE)
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}", ExitCode.USAGE)


def _write_file(path: Path, data: bytes, *, replace: bool) -> None:
    """Write ``data`` to ``path`` atomically (mode 0666 less the umask).

    A temporary file in the same directory is linked into place (`FileExistsError` when
    ``path`` exists) or, with ``replace``, renamed over it.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
