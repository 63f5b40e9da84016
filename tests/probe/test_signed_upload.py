"""A signed probe against a real `signals serve` whose tenant requires DSSE (`signals policy set
--require-dsse`, the probe's public key trusted with `signals keys add`): its windows are
accepted (201, the receipt's ``dsse_digest`` set); the same probe without the key is refused
with 422 ``dsse_required`` and keeps the window on disk, with the refusal beside it; and
`stella attest runtime` with the same key writes the very bytes the probe wrote."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stella_signals.attest import generate_private_key_pem, public_key_pem
from tests.probe._probe import probe_env, windows
from tests.realservers.signals_process import (
    BIN,
    SignalsProcess,
    create_token,
    free_port,
    signals,
)

pytestmark = pytest.mark.e2e

PROGRAMS = Path(__file__).parent / "programs"
#: A graph the server has not seen: the traces wait for it (orphans), receipts are issued
GRAPH = "blake3:" + "ab" * 32


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """(url, token file, private key) of a server whose tenant ``acme`` requires DSSE."""
    data = ["--data-dir", str(tmp_path / "data")]
    key = tmp_path / "probe.pem"
    key.write_bytes(generate_private_key_pem("ed25519"))
    public = tmp_path / "probe.pub.pem"
    public.write_bytes(public_key_pem(key.read_bytes()))
    token = tmp_path / "token"
    token.write_text(create_token("acme", *data) + "\n")
    signals("policy", "set", "--tenant", "acme", "--require-dsse", *data)
    signals("keys", "add", str(public), "--tenant", "acme", *data)
    server = SignalsProcess(["serve", *data], tmp_path / "serve.log", port=free_port())
    server.start()
    try:
        yield server.url, token, key
    finally:
        server.stop()


def run(options: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stella_probe", "run", "--mode", "discovery", "--sample", "0.4/0",
         *options, "--", str(PROGRAMS / "loop.py"), "0.9"],
        cwd=cwd, env=probe_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_strict_tenant_takes_signed_windows_and_refuses_unsigned_ones(
    strict_server: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, token, key = strict_server
    upload = ["--server", url, "--tenant", "acme", "--token-file", str(token), "--graph-hash",
              GRAPH, "--upload-retries", "1", "--upload-backoff", "0.05"]  # fmt: skip

    signed_out = tmp_path / "signed"
    done = run(["--out", str(signed_out), *upload, "--sign-key", str(key)], PROGRAMS)
    assert done.returncode == 0, done.stderr
    signed = [w for w in windows(signed_out) if w.records]
    assert len(signed) >= 2
    for window in signed:
        receipt = json.loads((window.path / "receipt.json").read_text())
        envelope = (window.path / "runtime.dsse.json").read_bytes()
        assert receipt["dsse_digest"] == "sha256:" + hashlib.sha256(envelope).hexdigest()
        assert receipt["content_sha256"] == window.manifest["trace_sha256"]
        assert not (window.path / "upload-error.json").exists()
    # `stella attest runtime` with the same key (Ed25519: deterministic) writes the same bytes
    window = signed[0].path
    bundle = tmp_path / "by-stella.dsse.json"
    attest = subprocess.run(
        [str(BIN / "stella"), "attest", "runtime", str(window / "runtime-trace.ndjson.gz"),
         "--key", str(key), "--tenant", "acme", "--graph-hash", GRAPH, "--bundle", str(bundle)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert attest.returncode == 0, attest.stderr
    assert bundle.read_bytes() == (window / "runtime.dsse.json").read_bytes()

    unsigned_out = tmp_path / "unsigned"
    done = run(["--out", str(unsigned_out), *upload], PROGRAMS)
    assert done.returncode == 0, done.stderr
    refused = [w for w in windows(unsigned_out) if w.records]
    assert len(refused) >= 2
    for window in refused:
        assert not (window.path / "receipt.json").exists()
        problem = json.loads((window.path / "upload-error.json").read_text())
        assert (problem["status"], problem["reason"]) == (422, "dsse_required")
        assert (window.path / "runtime-trace.ndjson.gz").exists()  # kept for a later upload
    assert windows(unsigned_out)[-1].manifest["dropped"] >= 1  # refusals are counted
