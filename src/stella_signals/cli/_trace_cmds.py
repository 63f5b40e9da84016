"""`stella trace validate`: explain every bad line of a runtime trace (SPEC §2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from stella_signals.bundle import parse_manifest
from stella_signals.cli._common import fail, run_guarded
from stella_signals.cli._exit import ExitCode, exit_code_for
from stella_signals.clock import format_utc
from stella_signals.errors import HashMismatch, LimitExceeded
from stella_signals.trace import Diagnostic, TraceReport, parse_trace

__all__ = ["app", "validate_trace"]

app = typer.Typer(help="Runtime traces (runtime-trace.ndjson[.gz]).", no_args_is_help=True)


def report_dict(report: TraceReport) -> dict[str, Any]:
    return {
        "file": report.name,
        "valid": report.valid,
        "sha256": report.sha256,
        "size": report.size,
        "gzip": report.gzip,
        "lines": report.lines,
        "records": report.records,
        "unique_symbols": report.unique_symbols,
        "first_seen": format_utc(report.first_seen) if report.first_seen else None,
        "last_seen": format_utc(report.last_seen) if report.last_seen else None,
        "error_count": report.error_count,
        "warning_count": report.warning_count,
        "diagnostics": [d.to_dict() for d in report.diagnostics],
    }


def _print_line(diagnostic: Diagnostic) -> None:
    sys.stdout.write(f"{diagnostic}\n")


def validate_trace(file: Path, manifest: Path | None, as_json: bool) -> int:
    """Validate ``file`` (and its manifest entry); print the report; return the exit code."""
    from stella_signals.wiring import read_file_chunks  # not for `stella trace --help`

    if not file.is_file():
        fail(f"{file}: no such file", ExitCode.USAGE)
    manifest_doc = None
    if manifest is not None:
        if not manifest.is_file():
            fail(f"{manifest}: no such file", ExitCode.USAGE)
        manifest_doc = run_guarded(lambda: parse_manifest(manifest.read_bytes()))
    try:
        report = parse_trace(
            read_file_chunks(file), name=file.name, on_diagnostic=None if as_json else _print_line
        )
    except LimitExceeded as exc:
        _print_limit(file, exc, as_json)
        return int(ExitCode.SCHEMA_INVALID)
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}", ExitCode.USAGE)
    result: dict[str, Any] = report_dict(report)
    code = ExitCode.OK if report.valid else ExitCode.SCHEMA_INVALID
    if manifest_doc is not None:
        try:
            entry = manifest_doc.entry_for(file.name)
            entry.check(sha256=report.sha256, size=report.size)
            result["manifest"] = {"path": entry.path, "match": True}
        except HashMismatch as exc:
            result["manifest"] = {"match": False, "reason": exc.reason, "detail": str(exc)}
            code = exit_code_for(exc)
    result["exit_code"] = int(code)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    else:
        _print_summary(report, result)
    return int(code)


def _print_limit(file: Path, exc: LimitExceeded, as_json: bool) -> None:
    if as_json:
        body = {
            "file": file.name,
            "valid": False,
            "error_count": 1,
            "diagnostics": [
                {
                    "severity": "error",
                    "line": None,
                    "field": None,
                    "reason": exc.reason,
                    "limit": exc.limit,
                    "message": str(exc),
                }
            ],
            "exit_code": int(ExitCode.SCHEMA_INVALID),
        }
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(f"file: -: {exc.reason}: {exc} (limit {exc.limit})\n")
        sys.stdout.write(f"{file.name}: INVALID: stopped at a limit\n")


def _print_summary(report: TraceReport, result: dict[str, Any]) -> None:
    kind = "gzip" if report.gzip else "plain"
    verdict = "valid" if report.valid else "INVALID"
    out = sys.stdout
    out.write(f"file:     {report.name} ({kind}, {report.size} bytes)\n")
    out.write(
        f"records:  {report.records} in {report.lines} lines, "
        f"{report.unique_symbols} unique symbols\n"
    )
    if report.first_seen and report.last_seen:
        out.write(f"seen:     {format_utc(report.first_seen)} .. {format_utc(report.last_seen)}\n")
    out.write(f"sha256:   {report.sha256}\n")
    manifest = result.get("manifest")
    if manifest is not None:
        match = "matches" if manifest["match"] else f"MISMATCH: {manifest['detail']}"
        out.write(f"manifest: {match}\n")
    out.write(
        f"result:   {verdict} ({report.error_count} errors, {report.warning_count} warnings)\n"
    )


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="runtime-trace.ndjson or .ndjson.gz")],
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", help="Bundle manifest.json to check the file's hash/size."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine report.")] = False,
) -> None:
    """Validate a runtime trace: one line per problem, then a summary.

    Exit 0 valid (warnings allowed), 6 invalid (limits included), 3 hash or size differs from
    the manifest entry, 2 unreadable input or usage error.
    """
    raise typer.Exit(validate_trace(file, manifest, as_json))
