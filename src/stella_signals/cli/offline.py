"""`signals-offline`: air-gap tools (SPEC §10).

The offline ingest arrives with the air-gap issue; until then this front door only answers
``--version`` and ``--help``.
"""

from __future__ import annotations

import typer

from stella_signals import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="signals-offline",
    help="Air-gap tools for runtime bundles.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version."),
) -> None:
    """Air-gap tools (not built yet)."""
    if version:
        typer.echo(f"signals-offline {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def main() -> None:
    app()
