"""`signals policy set` changes only the options given (issue 14 item 2): a requirement is
turned off only by its explicit `--no-...` option, never by omitting it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.cli.signals import app

runner = CliRunner()


@pytest.fixture
def data(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data")]


def _set(data: list[str], *options: str) -> dict[str, object]:
    result = runner.invoke(app, ["policy", "set", "--tenant", "acme", *options, *data])
    assert result.exit_code == 0, result.output
    printed: dict[str, object] = json.loads(result.stdout)
    return printed


def _shown(data: list[str]) -> dict[str, object]:
    shown = runner.invoke(app, ["policy", "show", "--tenant", "acme", *data])
    assert shown.exit_code == 0, shown.output
    policy: dict[str, object] = json.loads(shown.stdout)
    return policy


def test_setting_the_threshold_keeps_require_dsse(data: list[str]) -> None:
    _set(data, "--require-dsse")
    printed = _set(data, "--threshold", "2")
    assert printed == {"require_dsse": True, "dsse_threshold": 2}
    assert _shown(data) == printed


def test_setting_require_dsse_keeps_the_threshold(data: list[str]) -> None:
    _set(data, "--threshold", "3")
    assert _set(data, "--require-dsse") == {"require_dsse": True, "dsse_threshold": 3}
    assert _set(data, "--no-require-dsse") == {"require_dsse": False, "dsse_threshold": 3}
    assert _shown(data) == {"require_dsse": False, "dsse_threshold": 3}


def test_set_with_nothing_to_change_is_a_usage_error_and_changes_nothing(
    data: list[str],
) -> None:
    _set(data, "--require-dsse", "--threshold", "2")
    result = runner.invoke(app, ["policy", "set", "--tenant", "acme", *data])
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr
    assert _shown(data) == {"require_dsse": True, "dsse_threshold": 2}


def test_other_tenants_policies_are_untouched(data: list[str]) -> None:
    _set(data, "--require-dsse", "--threshold", "2")
    result = runner.invoke(app, ["policy", "set", "--tenant", "globex", "--threshold", "4", *data])
    assert json.loads(result.stdout) == {"require_dsse": False, "dsse_threshold": 4}
    assert _shown(data) == {"require_dsse": True, "dsse_threshold": 2}
