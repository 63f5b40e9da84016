"""`stella vex verify`: check a signed VEX document offline against the service public key.

FILE is either the DSSE envelope (``*.dsse.json``) or the document itself; a document's
envelope is ``--envelope`` or, by default, ``FILE.dsse.json``, and its signed payload must be
the document byte for byte.

Exit codes (SPEC §10): 0 signed by the pinned key; 4 the signature is not the key's (another
key: ``unknown_key``; the signed bytes were changed: ``bad_signature``; not a VEX payload
type); 3 the document is not the signed payload (``vex_document_mismatch``); 6 a malformed
envelope or a signed payload that is not a VEX document; 2 unreadable input or usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stella_signals.attest import InvalidKey, PublicKey, SignatureInvalid, load_public_key
from stella_signals.cli._common import fail, read_input
from stella_signals.cli._exit import ExitCode, exit_code_for
from stella_signals.errors import StellaError
from stella_signals.strictjson import loads_strict

if TYPE_CHECKING:
    from stella_signals.vex import VerifiedVex

__all__ = ["app"]

#: Sibling of a document that holds its envelope (``vex.json`` → ``vex.json.dsse.json``).
ENVELOPE_SUFFIX = ".dsse.json"

app = typer.Typer(help="VEX documents (OpenVEX, CycloneDX) signed by the service.",
                  no_args_is_help=True)  # fmt: skip


@app.command("verify")
def verify_command(
    file: Annotated[
        Path, typer.Argument(help="The DSSE envelope, or the VEX document beside its envelope.")
    ],
    key: Annotated[
        Path,
        typer.Option(
            "--key", help="The service public key PEM (GET /api/v1/keys/service), pinned."
        ),
    ],
    envelope: Annotated[
        Path | None,
        typer.Option(
            "--envelope",
            help=f"The envelope of the document FILE (default: FILE{ENVELOPE_SUFFIX}).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine report.")] = False,
) -> None:
    """Check offline that the pinned service key signed the VEX document.

    Exit 0 ok, 4 signature invalid (another key, modified bytes), 3 the document is not the
    signed payload, 6 malformed envelope or document, 2 unreadable input or usage.
    """
    # Here, not at the top: cyclonedx-python-lib costs every other `stella` command ~50 ms.
    from stella_signals.vex import verify_vex

    public_key = _load_key(key)
    data = read_input(file)
    if envelope is None and _is_envelope(data):
        envelope_path, envelope_data, document = file, data, None
    else:
        envelope_path = envelope or file.with_name(file.name + ENVELOPE_SUFFIX)
        envelope_data, document = read_input(envelope_path), data
    try:
        verified = verify_vex(envelope_data, key=public_key, document=document)
    except StellaError as exc:
        code = exit_code_for(exc)
        report = exc.report if isinstance(exc, SignatureInvalid) else None
        if as_json:
            _print_json(
                {
                    "ok": False,
                    "reason": exc.reason,
                    "message": str(exc),
                    "exit_code": int(code),
                    "envelope": str(envelope_path),
                    "document": None if document is None else str(file),
                    "envelope_report": report.to_dict() if report is not None else None,
                }
            )
            raise typer.Exit(int(code)) from None
        fail(f"{envelope_path}: {exc.reason}: {exc}", code)
    if as_json:
        result = verified.to_dict()
        result.update(envelope=str(envelope_path), exit_code=int(ExitCode.OK),
                      document=None if document is None else str(file))  # fmt: skip
        _print_json(result)
    else:
        sys.stdout.write("".join(f"{line}\n" for line in _lines(verified, envelope_path)))
    raise typer.Exit(int(ExitCode.OK))


def _is_envelope(data: bytes) -> bool:
    """A DSSE envelope is a JSON object with payload, payloadType and signatures; a VEX
    document has none of these."""
    try:
        value = loads_strict(data)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(value, dict) and {"payload", "payloadType", "signatures"} <= value.keys()


def _lines(verified: VerifiedVex, envelope_path: Path) -> list[str]:
    return [
        f"envelope:  {envelope_path}",
        f"format:    {verified.format.value} ({verified.format.payload_type})",
        f"document:  {verified.digest} ({len(verified.document)} bytes)",
        f"signed by: {', '.join(verified.keyids)}",
        "result: ok",
    ]


def _print_json(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")


def _load_key(path: Path) -> PublicKey:
    try:
        return load_public_key(read_input(path))
    except InvalidKey as exc:
        fail(f"{path}: {exc.reason}: {exc}", ExitCode.USAGE)
