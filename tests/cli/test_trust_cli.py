"""`signals keys add|list|revoke` and `signals policy set|show` on the embedded store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from stella_signals.attest import generate_private_key_pem, load_public_key, public_key_pem
from stella_signals.cli.signals import app

runner = CliRunner()


def test_trust_a_key_list_it_and_revoke_it(tmp_path: Path) -> None:
    pem = public_key_pem(generate_private_key_pem("ecdsa-p256"))
    key_file = tmp_path / "key.pub.pem"
    key_file.write_bytes(pem)
    data = ["--data-dir", str(tmp_path / "data")]
    added = runner.invoke(app, ["keys", "add", str(key_file), "--tenant", "acme", *data])
    assert added.exit_code == 0, added.output
    keyid = added.stdout.strip().splitlines()[-1]
    assert keyid == load_public_key(pem).keyid
    listed = runner.invoke(app, ["keys", "list", "--tenant", "acme", *data])
    assert [json.loads(x)["keyid"] for x in listed.stdout.splitlines()] == [keyid]
    assert runner.invoke(app, ["keys", "list", "--tenant", "globex", *data]).stdout == ""
    assert runner.invoke(app, ["keys", "revoke", keyid, "--tenant", "acme", *data]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", keyid, "--tenant", "acme", *data]).exit_code == 1
    assert runner.invoke(app, ["keys", "list", "--tenant", "acme", *data]).stdout == ""


def test_a_private_key_or_garbage_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    result = runner.invoke(
        app, ["keys", "add", str(bad), "--tenant", "acme", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 6


def test_policy_set_and_show(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    shown = runner.invoke(app, ["policy", "show", "--tenant", "acme", *data])
    assert json.loads(shown.stdout) == {"require_dsse": False, "dsse_threshold": 1}
    runner.invoke(
        app, ["policy", "set", "--tenant", "acme", "--require-dsse", "--threshold", "2", *data]
    )
    shown = runner.invoke(app, ["policy", "show", "--tenant", "acme", *data])
    assert json.loads(shown.stdout) == {"require_dsse": True, "dsse_threshold": 2}
