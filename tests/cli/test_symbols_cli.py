"""`stella symbols validate` (runbook §5: "Missing symbols: ensure symbol manifest ingested")."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from stella_signals.cli.stella import app
from tests.symbols.test_symbol_manifest import valid_manifest

runner = CliRunner()


def test_valid_manifest_for_its_tenant(tmp_path: Path) -> None:
    path = tmp_path / "symbols.json"
    path.write_text(json.dumps(valid_manifest()))
    result = runner.invoke(app, ["symbols", "validate", str(path), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout


def test_other_tenant_and_broken_manifest_exit_6(tmp_path: Path) -> None:
    path = tmp_path / "symbols.json"
    path.write_text(json.dumps(valid_manifest()))
    other = runner.invoke(app, ["symbols", "validate", str(path), "--tenant", "globex", "--json"])
    assert other.exit_code == 6
    assert json.loads(other.stdout)["problems"][0]["reason"] == "tenant_mismatch"
    doc = valid_manifest()
    doc["entries"][0]["sha256"] = "xyz"
    path.write_text(json.dumps(doc))
    broken = runner.invoke(app, ["symbols", "validate", str(path), "--tenant", "acme"])
    assert broken.exit_code == 6
    assert "/entries/0/sha256: invalid_digest" in broken.stdout


def test_unreadable_and_bad_tenant_exit_2(tmp_path: Path) -> None:
    assert (
        runner.invoke(
            app, ["symbols", "validate", str(tmp_path / "no.json"), "--tenant", "acme"]
        ).exit_code
        == 2
    )
    path = tmp_path / "symbols.json"
    path.write_text("{}")
    assert (
        runner.invoke(app, ["symbols", "validate", str(path), "--tenant", "Bad_Tenant"]).exit_code
        == 2
    )
