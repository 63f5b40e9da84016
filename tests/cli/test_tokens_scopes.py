"""SPEC §13: `signals tokens create --tenant T --scope S... [--data-dir DIR]` prints a new token
once, alone on the last line of stdout. Scopes may be given as a repeated `--scope`, as several
values after one `--scope`, or comma-separated; an unknown one is a usage error (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.auth import token_hash
from stella_signals.cli.signals import app
from stella_signals.wiring import Services, load_settings

runner = CliRunner()
READ, WRITE, ADMIN = "signals:read", "signals:write", "signals:admin"


def _stored_scopes(data_dir: Path, token: str) -> frozenset[str]:
    services = Services.open(load_settings(data_dir=data_dir, environ={}))
    try:
        record = services.repo.find_token(token_hash(token))
    finally:
        services.close()
    assert record is not None and not record.revoked
    return frozenset(record.scopes)


@pytest.mark.parametrize(
    ("scope_args", "scopes"),
    [
        (["--scope", READ], {READ}),
        (["--scope", READ, "--scope", WRITE], {READ, WRITE}),
        (["--scope", READ, WRITE], {READ, WRITE}),
        (["--scope", READ, WRITE, ADMIN], {READ, WRITE, ADMIN}),
        (["--scope", f"{READ},{WRITE}"], {READ, WRITE}),
        (["--scope", f"{READ}, {ADMIN}"], {READ, ADMIN}),
        (["--scope", READ, WRITE, "--scope", f"{ADMIN},{READ}"], {READ, WRITE, ADMIN}),
    ],
    ids=["one", "repeated", "several", "three", "commas", "comma-space", "mixed"],
)
def test_every_way_of_naming_scopes(
    tmp_path: Path, scope_args: list[str], scopes: set[str]
) -> None:
    data_dir = tmp_path / "data"
    # the words after --scope may come before the other options too
    argv = ["tokens", "create", "--tenant", "acme", *scope_args, "--data-dir", str(data_dir)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    token = lines[-1]
    assert token.startswith("stl_") and token == token.strip() and " " not in token
    assert lines == [token]  # the token alone; the note about it goes to stderr
    assert _stored_scopes(data_dir, token) == scopes
    assert ", ".join(sorted(scopes)) in result.stderr


@pytest.mark.parametrize(
    "scope_args",
    [
        ["--scope", "signals:everything"],
        ["--scope", READ, "signals:everything"],
        ["--scope", f"{READ},signals:everything"],
        ["--scope", f"{READ},"],
        ["--scope", READ, "acme"],
    ],
    ids=["unknown", "unknown-after", "unknown-comma", "empty-comma", "stray-word"],
)
def test_an_unknown_scope_is_a_usage_error(tmp_path: Path, scope_args: list[str]) -> None:
    data_dir = tmp_path / "data"
    argv = ["tokens", "create", "--tenant", "acme", *scope_args, "--data-dir", str(data_dir)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "unknown scope" in result.stderr
    assert result.stdout == ""
    assert not (data_dir / "signals.db").exists()  # refused before anything was opened


def test_a_scope_is_still_required(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["tokens", "create", "--tenant", "acme", "--data-dir", str(tmp_path / "data")]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
