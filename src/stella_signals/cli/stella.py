"""`stella`: the operator / client command line."""

from __future__ import annotations

import typer

from stella_signals import __version__
from stella_signals.cli import (
    _attest_cmds,
    _bundle_cmds,
    _cas_cmds,
    _dev_cmds,
    _evidence_cmds,
    _graph_cmds,
    _ingest_cmds,
    _reach_cmds,
    _symbols_cmds,
    _timeline_cmds,
    _trace_cmds,
    _vex_cmds,
    _vuln_cmds,
)
from stella_signals.cli._common import unwrap_help

__all__ = ["app", "main"]

app = typer.Typer(
    name="stella",
    help="Runtime reachability evidence: validate, stage, verify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_trace_cmds.app, name="trace")
app.add_typer(_attest_cmds.keys_app, name="keys")
app.add_typer(_attest_cmds.attest_app, name="attest")
app.add_typer(_cas_cmds.app, name="cas")
app.add_typer(_graph_cmds.app, name="graph")
app.add_typer(_symbols_cmds.app, name="symbols")
app.add_typer(_timeline_cmds.app, name="timeline")
app.add_typer(_evidence_cmds.app, name="evidence")
app.add_typer(_bundle_cmds.app, name="bundle")
app.add_typer(_vex_cmds.app, name="vex")
_vex_cmds.app.command("export")(_reach_cmds.vex_export_command)
app.add_typer(_reach_cmds.app, name="reach")
app.add_typer(_vuln_cmds.app, name="vuln")
app.command("ingest")(_ingest_cmds.ingest_command)
app.add_typer(_dev_cmds.app, name="dev")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stella {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """stella-signals operator CLI."""


unwrap_help(app)  # after the last command: help paragraphs without hard line breaks


def main() -> None:
    app()
