"""`stella symbols validate`: check a SYMBOL_MANIFEST/v1 before it is ingested (SPEC §4).

Runbook §5, "Missing symbols: ensure symbol manifest ingested".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from stella_signals.cli._common import TenantOption, read_input, run_guarded, tenant_from
from stella_signals.cli._exit import ExitCode
from stella_signals.symbols import check_symbol_manifest

__all__ = ["app"]

app = typer.Typer(help="Symbol manifests (SYMBOL_MANIFEST/v1).", no_args_is_help=True)


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="SYMBOL_MANIFEST/v1 JSON")],
    tenant: TenantOption,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Validate a symbol manifest for a tenant: one line per problem (JSON pointer, reason).

    Exit 0 valid, 6 invalid, 2 unreadable input or usage error.
    """
    tenant_id = tenant_from(tenant)
    data = read_input(file)
    report = run_guarded(lambda: check_symbol_manifest(data, tenant=tenant_id))
    if as_json:
        body = {
            "file": file.name,
            "valid": report.valid,
            "problem_count": report.problem_count,
            "problems": [
                {"pointer": p.pointer, "reason": p.reason, "message": p.message}
                for p in report.problems
            ],
            "entries": len(report.manifest.entries) if report.manifest else None,
        }
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        for problem in report.problems:
            sys.stdout.write(f"{problem.pointer or '/'}: {problem.reason}: {problem.message}\n")
        if report.manifest is not None:
            sys.stdout.write(f"{file.name}: valid, {len(report.manifest.entries)} entries\n")
        else:
            sys.stdout.write(f"{file.name}: INVALID ({report.problem_count} problems)\n")
    raise typer.Exit(int(ExitCode.OK if report.valid else ExitCode.SCHEMA_INVALID))
