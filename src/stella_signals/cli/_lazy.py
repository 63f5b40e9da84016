"""Command groups imported when they are named, so that a command line loads only the
command it runs.

Each front door lists its commands in a table of `Lazy` entries: a name, its one-paragraph
help (what the front door's ``--help`` prints) and a loader that imports the module and
returns its typer app (or one command function). ``stella --help`` imports none of them;
``stella trace validate`` imports the trace commands only, not the database, the web stack
or the evidence locker. The help written here must be the loaded command's own:
tests/cli/test_lazy_groups.py loads every entry and compares.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

__all__ = ["Lazy", "lazy_group", "load"]


@dataclass(frozen=True)
class Lazy:
    """``name``'s entry: ``loader`` returns a `typer.Typer` (a group) or a command function,
    its help text already unwrapped (`_common.unwrap_help`)."""

    name: str
    help: str
    loader: Callable[[], typer.Typer | Callable[..., Any]]


@functools.cache
def load(entry: Lazy) -> _click.Command:
    """The click command of ``entry`` (imported once per process)."""
    target = entry.loader()
    if isinstance(target, typer.Typer):
        command: _click.Command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(entry.name)(target)
        command = typer.main.get_command(single)
    command.name = entry.name
    return command


class _Placeholder(TyperCommand):
    """What ``--help`` lists for a command not imported yet: its name and help."""


def lazy_group(entries: Sequence[Lazy]) -> type[TyperGroup]:
    """A root group class (``typer.Typer(cls=...)``) whose ``entries`` are placeholders
    until a command line names one; then that one is imported and replaces its placeholder."""
    table = {entry.name: entry for entry in entries}

    class LazyGroup(TyperGroup):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            for entry in entries:
                self.commands.setdefault(entry.name, _Placeholder(entry.name, help=entry.help))

        def resolve_command(
            self, ctx: _click.Context, args: list[str]
        ) -> tuple[str | None, _click.Command | None, list[str]]:
            if args and args[0] in table and isinstance(self.commands.get(args[0]), _Placeholder):
                self.commands[args[0]] = load(table[args[0]])
            return super().resolve_command(ctx, args)

    return LazyGroup
