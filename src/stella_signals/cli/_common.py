"""Options and helpers shared by the command-line front doors."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from stella_signals.cli._exit import ExitCode, exit_code_for
from stella_signals.errors import InvalidDocument, StellaError
from stella_signals.tenancy import TenantId, parse_tenant

if TYPE_CHECKING:  # the wiring (database, ingest, metrics) loads when a command opens it
    from stella_signals.wiring import Services, Settings

__all__ = [
    "CasOption",
    "ConfigOption",
    "DataDirOption",
    "DatabaseOption",
    "ServiceDataDir",
    "TenantOption",
    "fail",
    "local_settings",
    "open_services",
    "read_input",
    "require_dev_tools",
    "root_callback",
    "run_guarded",
    "stderr",
    "tenant_from",
    "unwrap_help",
]

T = TypeVar("T")

stderr = Console(stderr=True, highlight=False, soft_wrap=True)

DEFAULT_DATA_DIR = Path("data")

DataDirOption = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="STELLA_DATA_DIR",
        help="State directory of the embedded default (SQLite + filesystem CAS).",
        file_okay=False,
    ),
]
TenantOption = Annotated[
    str,
    typer.Option("--tenant", envvar="STELLA_TENANT", help="Tenant id (SPEC §1)."),
]


def root_callback(app: typer.Typer, name: str, about: str) -> None:
    """Register ``app``'s root callback: ``about`` is its help, ``--version`` prints
    ``<name> <version>``. Every console script has one."""
    from stella_signals import __version__

    def show_version(value: bool) -> None:
        if value:
            typer.echo(f"{name} {__version__}")
            raise typer.Exit()

    def root(
        version: bool = typer.Option(
            False, "--version", callback=show_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        pass

    root.__doc__ = about
    app.callback()(root)


def tenant_from(text: str) -> TenantId:
    return run_guarded(lambda: parse_tenant(text), argument=True)


def fail(message: str, code: ExitCode) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(int(code))


#: The developer tools (the synthetic generator behind `stella dev` and the demo): a package
#: beside the product that the product wheel leaves out.
DEV_PACKAGE = "stella_signals_dev"


def require_dev_tools(command: str) -> None:
    """Exit 2 with one line when ``command`` cannot run because the developer tools are not
    installed (a product install from the wheel); a repository checkout after `make venv` has
    them."""
    try:
        importlib.import_module(DEV_PACKAGE)
    except ModuleNotFoundError as exc:
        if exc.name != DEV_PACKAGE:
            raise
        fail(
            f"{command} needs the developer tools ({DEV_PACKAGE}), which the product wheel "
            "does not include: run it from a repository checkout after `make venv`",
            ExitCode.USAGE,
        )


def run_guarded(action: Callable[[], T], *, argument: bool = False) -> T:
    """Run ``action``; a `StellaError` becomes a message on stderr and its exit code. With
    ``argument``, ``action`` parses a value typed on the command line: malformed is exit 2."""
    try:
        return action()
    except StellaError as exc:
        if isinstance(exc, InvalidDocument):  # list where the document is wrong
            for problem in exc.problems:
                stderr.print(str(problem), markup=False)
        fail(f"{exc.reason}: {exc}", exit_code_for(exc, argument=argument))
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}", ExitCode.USAGE)


def read_input(path: Path) -> bytes:
    """A file named on the command line; unreadable input is a usage error (exit 2)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}", ExitCode.USAGE)


def write_atomically(path: Path, data: bytes) -> None:
    """Nothing half-written is visible: write beside, then rename over (exit 2 on failure)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"{path}: {exc.strerror or exc}", ExitCode.USAGE)


#: The deployment options every `signals` subcommand accepts (SPEC §13).
ServiceDataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="State directory of the embedded default: SQLite database, filesystem CAS, keys "
        "(env STELLA_DATA_DIR, config data_dir).",
        show_default="./data",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML config file; flags win over STELLA_* variables, which win over the file.",
        show_default="none",
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Metadata database URL, postgresql://user:pass@host:port/db (env "
        "STELLA_DATABASE_URL, config database.url).",
        show_default="SQLite in the data dir",
    ),
]
CasOption = Annotated[
    str | None,
    typer.Option(
        "--cas",
        help="Blob store URL, s3://bucket/prefix?endpoint_url=... with credentials from AWS_* "
        "(env STELLA_CAS_URL, config cas.url).",
        show_default="the data dir",
    ),
]


def open_services(
    data_dir: Path | None,
    *,
    database: str | None = None,
    cas: str | None = None,
    config: Path | None = None,
) -> Services:
    """The services of a deployment (settings from flags, STELLA_* and the config file)."""
    from stella_signals.wiring import Services, load_settings

    settings = run_guarded(
        lambda: load_settings(
            config_file=config, data_dir=data_dir, database_url=database, cas_url=cas
        )
    )
    return run_guarded(lambda: Services.open(settings))


def local_settings(
    data_dir: Path | None, *, database: str | None = None, config: Path | None = None
) -> Settings:
    """The local deployment's settings (flags, STELLA_* and the config file), opening nothing;
    `InvalidInput` for a bad config file. Callers choose the exit code."""
    from stella_signals.wiring import load_settings

    return load_settings(config_file=config, data_dir=data_dir, database_url=database)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}


def is_tty() -> bool:
    return sys.stdout.isatty()


def _unwrap(text: str) -> str:
    """Help text with each paragraph on one line: docstrings wrap at 100 columns, and typer's
    help would keep those breaks mid-sentence. A paragraph starting with ``\\b`` is verbatim."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def unwrap_help(app: typer.Typer) -> typer.Typer:
    """Unwrap the help of every command and group of ``app`` (see `_unwrap`), recursively.
    Each front door calls it once, after its last command is registered."""
    for command in app.registered_commands:
        if isinstance(command.help, str):
            command.help = _unwrap(command.help)
        elif command.callback is not None and command.callback.__doc__:
            command.callback.__doc__ = _unwrap(command.callback.__doc__)
    callback = app.registered_callback
    if callback is not None and callback.callback is not None and callback.callback.__doc__:
        callback.callback.__doc__ = _unwrap(callback.callback.__doc__)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            unwrap_help(group.typer_instance)
    return app
