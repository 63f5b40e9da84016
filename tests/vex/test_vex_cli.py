"""`stella vex verify`: offline, one pinned key, the exit codes of SPEC §10."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stella_signals.attest import Signer, generate_private_key_pem, load_signer
from stella_signals.cli._exit import ExitCode
from stella_signals.cli.stella import app
from stella_signals.digests import sha256_hex
from stella_signals.vex import VexFormat, render_cyclonedx, render_openvex, sign_vex
from tests.vex._evaluations import AUTHOR, PRODUCT, WHEN, one_of_each

runner = CliRunner()


def run(*args: str | Path) -> Result:
    return runner.invoke(app, ["vex", "verify", *map(str, args)])


@pytest.fixture(scope="module")
def service() -> Signer:
    return load_signer(generate_private_key_pem())


@pytest.fixture
def signed(tmp_path: Path, service: Signer) -> tuple[Path, Path, Path]:
    """(document, its envelope beside it, the service public key PEM)."""
    document = render_openvex(one_of_each(), product=PRODUCT, author=AUTHOR, timestamp=WHEN)
    doc_path = tmp_path / "shop.openvex.json"
    doc_path.write_bytes(document)
    env_path = tmp_path / "shop.openvex.json.dsse.json"
    env_path.write_bytes(sign_vex(document, VexFormat.OPENVEX, service))
    key_path = tmp_path / "service.pub.pem"
    key_path.write_bytes(service.public_key.pem)
    return doc_path, env_path, key_path


def test_the_envelope_alone_verifies(signed: tuple[Path, Path, Path]) -> None:
    doc, env, key = signed
    result = run(env, "--key", key)
    assert result.exit_code == ExitCode.OK, result.output
    assert f"sha256:{sha256_hex(doc.read_bytes())}" in result.stdout
    assert "openvex (application/openvex+json)" in result.stdout
    assert "result: ok" in result.stdout


def test_the_document_finds_its_envelope_beside_it(signed: tuple[Path, Path, Path]) -> None:
    doc, env, key = signed
    result = run(doc, "--key", key, "--json")
    assert result.exit_code == ExitCode.OK, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["format"] == "openvex"
    assert report["envelope"] == str(env) and report["document"] == str(doc)
    assert report["document_sha256"] == f"sha256:{sha256_hex(doc.read_bytes())}"


def test_an_envelope_named_explicitly(
    signed: tuple[Path, Path, Path], tmp_path: Path, service: Signer
) -> None:
    doc, env, key = signed
    moved = tmp_path / "elsewhere.json"
    env.rename(moved)
    assert run(doc, "--key", key).exit_code == ExitCode.USAGE  # the default sibling is gone
    assert run(doc, "--envelope", moved, "--key", key).exit_code == ExitCode.OK
    cdx = render_cyclonedx(one_of_each(), product=PRODUCT, timestamp=WHEN)
    cdx_env = tmp_path / "cdx.dsse.json"
    cdx_env.write_bytes(sign_vex(cdx, VexFormat.CYCLONEDX, service))
    result = run(cdx_env, "--key", key)
    assert result.exit_code == ExitCode.OK and "cyclonedx" in result.stdout


def test_another_key_exits_4(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, env, _ = signed
    other = tmp_path / "other.pem"
    other.write_bytes(load_signer(generate_private_key_pem()).public_key.pem)
    result = run(env, "--key", other, "--json")
    assert result.exit_code == ExitCode.SIGNATURE_INVALID == 4
    report = json.loads(result.stdout)
    assert report["reason"] == "unknown_key" and report["exit_code"] == 4
    assert report["envelope_report"]["signatures"][0]["reason"] == "unknown_key"
    assert "unknown_key" in run(env, "--key", other).stderr


def test_a_modified_payload_exits_4(signed: tuple[Path, Path, Path]) -> None:
    _, env, key = signed
    envelope = json.loads(env.read_bytes())
    payload = base64.b64decode(envelope["payload"]).replace(b"affected", b"AFFECTED", 1)
    envelope["payload"] = base64.b64encode(payload).decode()
    env.write_text(json.dumps(envelope))
    result = run(env, "--key", key, "--json")
    assert result.exit_code == ExitCode.SIGNATURE_INVALID
    assert json.loads(result.stdout)["reason"] == "bad_signature"


def test_a_document_that_differs_from_the_payload_exits_3(
    signed: tuple[Path, Path, Path],
) -> None:
    doc, _, key = signed
    doc.write_bytes(doc.read_bytes().replace(b"not_affected", b"affected", 1))
    result = run(doc, "--key", key)
    assert result.exit_code == ExitCode.HASH_MISMATCH == 3
    assert "vex_document_mismatch" in result.stderr


def test_a_malformed_envelope_exits_6(signed: tuple[Path, Path, Path]) -> None:
    doc, env, key = signed
    env.write_text('{"payload": "", "payloadType": "application/openvex+json"}')
    result = run(doc, "--key", key)
    assert result.exit_code == ExitCode.SCHEMA_INVALID == 6
    assert "signatures" in result.stderr


def test_unreadable_input_and_a_bad_key_exit_2(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    doc, env, key = signed
    assert run(tmp_path / "missing.json", "--key", key).exit_code == ExitCode.USAGE
    result = run(env, "--key", doc)
    assert result.exit_code == ExitCode.USAGE
    assert str(doc) in result.stderr
    assert run(env).exit_code == ExitCode.USAGE  # --key is required
