"""`signals`: the Signals service (server, workers, administration).

The HTTP API arrives with the online-ingest issue; until then this front door only answers
``--version`` and ``--help``.
"""

from __future__ import annotations

import typer

from stella_signals import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="signals",
    help="The Signals service.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version."),
) -> None:
    """The Signals service (the HTTP API is not built yet)."""
    if version:
        typer.echo(f"signals {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def main() -> None:
    app()
