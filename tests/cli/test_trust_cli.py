"""`signals keys add|list|revoke` and `signals policy set|show` on the embedded store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from stella_signals.attest import (
    generate_private_key_pem,
    load_public_key,
    load_public_keys,
    load_signer,
    public_key_pem,
    write_private_key,
)
from stella_signals.cli.signals import app
from stella_signals.wiring import Services, load_settings

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


def test_a_private_key_is_refused_in_one_line(tmp_path: Path) -> None:
    private = tmp_path / "service.pem"
    private.write_bytes(generate_private_key_pem())
    result = runner.invoke(
        app, ["keys", "add", str(private), "--tenant", "acme", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "private_key_given" in message and "public half" in message
    assert "cryptography" not in message and "Traceback" not in message
    assert len(result.stderr.strip().splitlines()) <= 2  # one line (wrapped at 80 columns)
    assert result.stdout == ""


def test_export_service_writes_current_and_retired_public_keys(tmp_path: Path) -> None:
    """What an offline site hands over for sync: `signals keys export-service` writes the
    public service keys (current first, then retired), and `signals keys add` trusts them."""
    site = tmp_path / "site"
    old, new = tmp_path / "old.pem", tmp_path / "new.pem"
    write_private_key(old, generate_private_key_pem())
    write_private_key(new, generate_private_key_pem("ecdsa-p256"))
    for key_file in (old, new):  # a key rotation: the old key is retired
        Services.open(
            load_settings(data_dir=site, environ={"STELLA_SERVICE_KEY_FILE": str(key_file)})
        ).close()
    out = tmp_path / "site-service.pub.pem"
    result = runner.invoke(
        app,
        ["keys", "export-service", "--data-dir", str(site), "--out", str(out)],
        env={"STELLA_SERVICE_KEY_FILE": str(new)},
    )
    assert result.exit_code == 0, result.output
    pem = out.read_bytes()
    assert b"PRIVATE" not in pem
    keyids = [key.keyid for key in load_public_keys(pem)]
    current, retired = (load_signer(f.read_bytes()).keyid for f in (new, old))
    assert keyids == [current, retired]
    assert result.stderr.split() == [current, "(current)", retired, "(retired)"]
    online = ["--data-dir", str(tmp_path / "online")]
    added = runner.invoke(
        app, ["keys", "add", str(out), "--tenant", "acme", "--purpose", "sync", *online]
    )
    assert added.exit_code == 0, added.output
    assert added.stdout.split() == keyids
    listed = runner.invoke(app, ["keys", "list", "--tenant", "acme", "--purpose", "sync", *online])
    assert sorted(json.loads(x)["keyid"] for x in listed.stdout.splitlines()) == sorted(keyids)
    attest = runner.invoke(app, ["keys", "list", "--tenant", "acme", *online])
    assert attest.stdout == ""  # trusted for sync only, not for traces
