"""`stella vuln`: vulnerability catalogs (SPEC §15), offline.

`import-osv` converts OSV records (osv.dev, GitHub and PyPA advisories) into a
``stella.vuln-catalog/v1`` file; `validate` checks a catalog. Neither talks to a server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from stella_signals.canonical import canonical_json
from stella_signals.cli._common import fail, read_input, run_guarded, write_atomically
from stella_signals.cli._exit import ExitCode
from stella_signals.reach import catalog_document, check_catalog, import_osv

__all__ = ["app"]

app = typer.Typer(help="Vulnerability catalogs (stella.vuln-catalog/v1).", no_args_is_help=True)


@app.command("import-osv")
def import_osv_command(
    files: Annotated[list[Path], typer.Argument(help="OSV record files (JSON)", min=1)],
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout")] = None,
) -> None:
    """Convert OSV records to a vulnerability catalog: PyPI packages only, ECOSYSTEM ranges
    as PEP 440 specifier sets, function symbols where a record names them.

    Other ecosystems and range types are skipped (one line each on stderr). Exit 0 converted,
    6 a record is malformed (one line per problem: file, record, field, reason; nothing is
    written), 2 unreadable input or usage error.
    """
    inputs = [(str(file), read_input(file)) for file in files]
    imported = run_guarded(lambda: import_osv(inputs))
    for skipped in imported.skipped:
        sys.stderr.write(f"skipped: {skipped}\n")
    data = canonical_json(catalog_document(imported.catalog)) + b"\n"
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_atomically(out, data)
    sys.stderr.write(
        f"{imported.catalog.digest}: {imported.records} records, "
        f"{len(imported.catalog.entries)} entries, {len(imported.skipped)} skipped\n"
    )


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="stella.vuln-catalog/v1 JSON")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check a vulnerability catalog: one line per problem (JSON pointer, reason), and its
    digest when valid. Exit 0 valid, 6 invalid, 2 unreadable input or usage error."""
    data = read_input(file)
    catalog, problems, total = run_guarded(lambda: check_catalog(data))
    if as_json:
        body = {
            "file": file.name,
            "valid": catalog is not None,
            "problem_count": total,
            "problems": [p.to_dict() for p in problems],
            "digest": catalog.digest if catalog else None,
            "entries": len(catalog.entries) if catalog else None,
        }
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        for problem in problems:
            sys.stdout.write(f"{problem}\n")
        if catalog is None:
            fail(f"{file.name}: INVALID ({total} problems)", ExitCode.SCHEMA_INVALID)
        sys.stdout.write(f"{file.name}: valid, {len(catalog.entries)} entries, {catalog.digest}\n")
    raise typer.Exit(int(ExitCode.OK if catalog is not None else ExitCode.SCHEMA_INVALID))
