"""The command lines import a command's module only when it is named (cli/_lazy.py): what
``--help`` lists before that must be what the loaded command says, and every name listed
must load and run. (That ``--help`` imports none of them is tests/cli/test_startup_imports.py,
in a fresh interpreter.)"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from stella_signals.cli import signals, stella
from stella_signals.cli._lazy import Lazy, load

ENTRIES = [("stella", entry) for entry in stella.COMMANDS] + [
    ("signals", entry) for entry in signals.GROUPS
]


def words(text: str | None) -> str:
    """Help text as the help screen shows it: whitespace folded."""
    return " ".join((text or "").split())


@pytest.mark.parametrize(("front", "entry"), ENTRIES, ids=[f"{f}-{e.name}" for f, e in ENTRIES])
def test_the_listed_help_is_the_loaded_commands(front: str, entry: Lazy) -> None:
    loaded = load(entry)
    assert loaded.name == entry.name
    assert words(loaded.help) == words(entry.help)


@pytest.mark.parametrize(("front", "entry"), ENTRIES, ids=[f"{f}-{e.name}" for f, e in ENTRIES])
def test_every_listed_name_runs(front: str, entry: Lazy) -> None:
    app = stella.app if front == "stella" else signals.app
    done = CliRunner().invoke(app, [entry.name, "--help"])
    assert done.exit_code == 0, done.output
    assert f"{front} {entry.name}" in words(done.output)


@pytest.mark.parametrize("front", ["stella", "signals"])
def test_the_root_help_lists_every_command_once(front: str) -> None:
    app, entries = (
        (stella.app, stella.COMMANDS) if front == "stella" else (signals.app, signals.GROUPS)
    )
    done = CliRunner().invoke(app, ["--help"])
    assert done.exit_code == 0, done.output
    lines = [line.strip("│ ").split(" ", 1)[0] for line in done.output.splitlines()]
    for entry in entries:
        assert lines.count(entry.name) == 1, (entry.name, done.output)


def test_a_name_no_table_lists_is_a_usage_error() -> None:
    done = CliRunner().invoke(stella.app, ["tracee", "validate"])
    assert done.exit_code == 2
    assert "No such command" in done.output and "trace" in done.output
