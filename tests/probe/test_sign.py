"""`--sign-key`: each window's trace gets the DSSE envelope `stella attest runtime --key` makes
(same statement bytes, payload type and keyid), which the product's verifier accepts; bad keys
are refused at start; without the `sign` extra signing is a configuration error; the unsigned
probe never imports `cryptography`; a signing failure at run time only drops the window."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from stella_probe import ConfigError, load_config
from stella_probe._probe import Probe
from stella_probe._ship import DSSE, TRACE, write_window
from stella_probe._sign import load_signer, runtime_statement

from stella_signals.attest import (
    generate_private_key_pem,
    load_public_key,
    parse_envelope,
    public_key_pem,
    runtime_trace_statement,
    sign_runtime_trace,
    statement_bytes,
    verify_runtime_attestation,
)
from stella_signals.attest import load_signer as product_signer
from stella_signals.trace import parse_trace
from tests.probe._probe import probe_env, run_probe, windows

PROGRAMS = Path(__file__).parent / "programs"
GRAPH = "blake3:" + "cd" * 32


def key_file(tmp_path: Path, kind: str = "ed25519") -> Path:
    path = tmp_path / f"probe-{kind}.pem"
    path.write_bytes(generate_private_key_pem(kind))  # type: ignore[arg-type]
    return path


def run_signed(
    options: list[str], program: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """The probe with site-packages (where `cryptography` is), unlike `run_probe`'s ``-S``."""
    return subprocess.run(
        [sys.executable, "-m", "stella_probe", "run", *options, "--", *program],
        cwd=cwd, env=probe_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def run_script(folder: Path, script: str) -> subprocess.CompletedProcess[str]:
    """A program that starts the probe itself, from a file (the probe names code in files)."""
    (folder / "app.py").write_text(script)
    return subprocess.run([sys.executable, "app.py"], env=probe_env(), capture_output=True,
                          text=True, timeout=60, cwd=folder)  # fmt: skip


def product_check(window: Path, pem: bytes, *, tenant: str, graph_hash: str | None) -> bytes:
    """What the product makes of the window: the statement `stella attest runtime` would sign,
    checked equal to the probe's payload and accepted by the server's verifier."""
    data = (window / TRACE).read_bytes()
    report = parse_trace([data], name=TRACE)
    statement = runtime_trace_statement(
        file_name=TRACE, report=report, tenant=tenant, graph_hash=graph_hash
    )
    written = (window / DSSE).read_bytes()
    envelope = parse_envelope(written)
    assert envelope.payload == statement_bytes(statement)  # byte for byte
    assert envelope.payload_type == "application/vnd.in-toto+json"
    assert [s.keyid for s in envelope.signatures] == [product_signer(pem).keyid]
    verified = verify_runtime_attestation(
        envelope,
        trusted=[load_public_key(public_key_pem(pem))],
        threshold=1,
        trace_sha256=report.sha256,
        tenant=tenant,
    )
    assert verified.trace_sha256 == report.sha256
    assert envelope.to_json() == written  # canonical, as `Envelope.to_json` writes it
    return written


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_signed_windows_carry_what_stella_attest_runtime_makes(tmp_path: Path, kind: str) -> None:
    key = key_file(tmp_path, kind)
    out = tmp_path / "out"
    done = run_signed(
        ["--mode", "discovery", "--sample", "0.3/0", "--out", str(out), "--tenant", "acme",
         "--graph-hash", GRAPH, "--sign-key", str(key)],
        [str(PROGRAMS / "loop.py"), "0.8"],
        cwd=PROGRAMS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    signed = [w for w in windows(out) if w.records]
    assert len(signed) >= 2
    pem = key.read_bytes()
    for window in signed:
        written = product_check(window.path, pem, tenant="acme", graph_hash=GRAPH)
        if kind == "ed25519":  # deterministic signatures: the whole envelope is the product's
            report = parse_trace([(window.path / TRACE).read_bytes()], name=TRACE)
            statement = runtime_trace_statement(
                file_name=TRACE, report=report, tenant="acme", graph_hash=GRAPH
            )
            product = sign_runtime_trace(statement=statement, signers=[product_signer(pem)])
            assert product.to_json() == written
    for window in windows(out):
        if not window.records:
            assert not (window.path / DSSE).exists()
    assert not list(out.glob(".*.tmp"))


def test_whole_second_timestamps_and_no_graph_hash_match_the_product(tmp_path: Path) -> None:
    """The server prints times without microseconds when they are zero; the probe must too."""
    pem_path = key_file(tmp_path)
    signer = load_signer(str(pem_path))
    base = {"purl": "pkg:pypi/demo@1.0", "pid": 7, "process_name": "demo", "count": 1}
    records: list[dict[str, Any]] = [
        dict(base, symbol_id="sym:python:demo/b", timestamp="2026-01-02T03:04:06.000000Z"),
        dict(base, symbol_id="sym:python:demo/a", timestamp="2026-01-02T03:04:05.000000Z"),
        dict(base, symbol_id="sym:python:demo/a", timestamp="2026-01-02T03:04:05.250000Z",
             caller_symbol_id="sym:python:demo/b"),
    ]  # fmt: skip

    def sign(name: str, sha256: str, rows: list[dict[str, Any]]) -> bytes:
        return signer.envelope(
            runtime_statement(
                file_name=name, trace_sha256=sha256, records=rows, tenant="t-1", graph_hash=""
            )
        )

    window = Path(write_window(str(tmp_path / "out"), "w1", records, {}, sign=sign))
    product_check(window, pem_path.read_bytes(), tenant="t-1", graph_hash=None)
    payload = json.loads(parse_envelope((window / DSSE).read_bytes()).payload)
    assert payload["predicate"]["first_seen"] == "2026-01-02T03:04:05Z"
    assert payload["predicate"]["last_seen"] == "2026-01-02T03:04:06Z"
    assert payload["predicate"]["unique_symbols"] == 2 and payload["predicate"]["records"] == 3


def _pem(key: Any, encryption: Any = None) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            encryption or serialization.NoEncryption(),
        )
    )


BAD_KEYS = {
    "missing": (None, "cannot read"),
    "garbage": (b"not a key\n", "not a PEM private key"),
    "public": (public_key_pem(generate_private_key_pem()), "this is a public key"),
    "encrypted": (
        _pem(
            ec.generate_private_key(ec.SECP256R1()),
            serialization.BestAvailableEncryption(b"pw"),
        ),
        "is encrypted",
    ),
    "rsa": (
        _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "unsupported key type RSAPrivateKey",
    ),
    "p384": (_pem(ec.generate_private_key(ec.SECP384R1())), "unsupported key type ECDSA secp384r1"),
}


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_bad_keys_are_refused_at_start(tmp_path: Path, case: str) -> None:
    data, message = BAD_KEYS[case]
    path = tmp_path / "key.pem"
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(ConfigError, match=message) as caught:
        load_signer(str(path))
    assert str(path) in str(caught.value) and "sign_key" in str(caught.value)
    config = tmp_path / "probe.json"
    config.write_text(json.dumps({"out": str(tmp_path / "out"), "tenant": "acme",
                                  "sign_key": str(path)}))  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        Probe(load_config(str(config)))  # the STELLA_PROBE path: `start` makes a Probe first


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_under_stella_probe_a_bad_key_leaves_the_application_running(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(BAD_KEYS["encrypted"][0] or b"")
    config = tmp_path / "probe.json"
    config.write_text(json.dumps({"out": str(tmp_path / "out"), "tenant": "acme",
                                  "sign_key": str(path)}))  # fmt: skip
    done = subprocess.run([sys.executable, "-c", "import stella_probe._hook; print('ran')"],
                          env=probe_env(STELLA_PROBE=str(config)), capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "ran")
    assert f"stella-probe: not started: sign_key: {path}: the private key is encrypted" in (
        done.stderr
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_the_command_line_refuses_a_bad_key_and_runs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(BAD_KEYS["rsa"][0] or b"")
    out = tmp_path / "out"
    done = run_signed(["--out", str(out), "--tenant", "acme", "--sign-key", str(path)],
                      [str(PROGRAMS / "loop.py"), "0.1"], cwd=PROGRAMS)  # fmt: skip
    assert done.returncode == 2
    assert f"error: sign_key: {path}: unsupported key type RSAPrivateKey" in done.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "a signed statement names its tenant"),
        ({"tenant": "Acme"}, "is not a tenant id"),
        ({"tenant": "acme", "graph_hash": "sha256:" + "ab" * 32}, "is not blake3:"),
    ],
)
def test_signing_needs_a_tenant_and_a_blake3_graph_hash(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    config = tmp_path / "probe.json"
    config.write_text(json.dumps({"sign_key": str(key_file(tmp_path)), **settings}))
    with pytest.raises(ConfigError, match=message):
        load_config(str(config))


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_without_the_sign_extra_signing_is_a_configuration_error(tmp_path: Path) -> None:
    """``-S``: a bare environment with the probe and the standard library, no cryptography."""
    out = tmp_path / "out"
    done = run_probe(["--out", str(out), "--tenant", "acme", "--sign-key",
                      str(key_file(tmp_path))],
                     [str(PROGRAMS / "loop.py"), "0.1"], cwd=PROGRAMS)  # fmt: skip
    assert done.returncode == 2
    assert "signing needs the 'cryptography' package" in done.stderr
    assert "pip install 'stella-probe[sign]'" in done.stderr
    assert not out.exists()  # never a silent unsigned run


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_the_unsigned_probe_never_imports_cryptography(tmp_path: Path) -> None:
    """Site-packages on (cryptography importable), every probe module loaded, windows written
    and uploaded: still no `cryptography` in the process."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    script = f"""
import sys, time
import stella_probe, stella_probe.__main__, stella_probe._ship, stella_probe._sign
from stella_probe import Config, start
probe = start(Config(mode="discovery", sample=(0.2, 0), out={str(tmp_path / "out")!r},
                     tenant="acme", server="http://127.0.0.1:9", token_file={str(token)!r},
                     upload_retries=0))
def work(i):
    return i + 1
t = time.time()
while time.time() - t < 0.5:
    work(1)
    time.sleep(0.01)
probe.stop()
print(sorted(m for m in sys.modules if m.split(".")[0] == "cryptography"))
"""
    done = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert [w for w in windows(tmp_path / "out") if w.records]
    import cryptography  # this interpreter has it: the check above could have failed

    assert cryptography.__version__


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_a_signing_failure_drops_the_window_and_disables_nothing(tmp_path: Path) -> None:
    """The signer starts failing (a key store gone away), then recovers: the failing windows
    are dropped and counted, the program and the probe carry on, and later windows are signed."""
    key = key_file(tmp_path)
    out = tmp_path / "out"
    script = f"""
import time
from stella_probe import Config, start
probe = start(Config(mode="discovery", sample=(0.2, 0), out={str(out)!r}, tenant="acme",
                     sign_key={str(key)!r}))
real = probe.signer._sign
def unplugged(data):
    raise OSError("key store unplugged")
def work(i):
    return i + 1
def run(seconds):
    t = time.time()
    while time.time() - t < seconds:
        work(1)
        time.sleep(0.01)
probe.signer._sign = unplugged
run(0.7)
probe.signer._sign = real
run(0.7)
probe.stop()
print(probe.disabled, probe.dropped, probe.error)
"""
    done = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr
    disabled, dropped, error = done.stdout.split()
    assert (disabled, error) == ("False", "None") and int(dropped) >= 2
    found = windows(out)
    assert all((w.path / DSSE).exists() for w in found if w.records)
    assert [w for w in found if w.records]  # signed again after recovery
    assert found[-1].manifest["dropped"] >= 2
    assert not list(out.glob(".*.tmp"))


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_stopping_while_the_loop_writes_a_window_waits_for_that_window(tmp_path: Path) -> None:
    """The program exits while the probe's own thread is still signing a window: `stop`
    waits for that window to be renamed into place, so no hidden staging directory is left
    and the window is not lost."""
    key = key_file(tmp_path)
    out = tmp_path / "out"
    script = f"""
import threading, time
from stella_probe import Config, start
probe = start(Config(mode="discovery", sample=(0.2, 0), out={str(out)!r}, tenant="acme",
                     sign_key={str(key)!r}))
real = probe.signer._sign
signing = threading.Event()
def slow(data):
    if threading.current_thread() is probe.thread:
        signing.set()
        time.sleep(0.8)
    return real(data)
probe.signer._sign = slow
def work(i):
    return i + 1
while not signing.is_set():
    work(1)
    time.sleep(0.01)
probe.stop()
print(probe.dropped)
"""
    done = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"]
    assert not list(out.glob(".*.tmp"))
    found = windows(out)
    assert len([w for w in found if w.records]) >= 1
    assert all((w.path / DSSE).exists() for w in found if w.records)


def test_the_signed_trace_file_is_the_one_attested(tmp_path: Path) -> None:
    """Whatever the window holds, the subject is the gzip file on disk, by its SHA-256."""
    signer = load_signer(str(key_file(tmp_path)))
    record = {
        "symbol_id": "sym:python:demo/a",
        "purl": "pkg:generic/demo",
        "pid": 1,
        "process_name": "p",
        "count": 2,
        "timestamp": "2026-01-02T03:04:05.123456Z",
    }

    def sign(name: str, sha256: str, rows: list[dict[str, Any]]) -> bytes:
        return signer.envelope(
            runtime_statement(
                file_name=name, trace_sha256=sha256, records=rows, tenant="acme", graph_hash=GRAPH
            )
        )

    window = Path(write_window(str(tmp_path / "out"), "w", [record], {}, sign=sign))
    statement = json.loads(parse_envelope((window / DSSE).read_bytes()).payload)
    trace = (window / TRACE).read_bytes()
    digest = hashlib.sha256(trace).hexdigest()
    assert statement["subject"] == [{"name": TRACE, "digest": {"sha256": digest}}]
    assert statement["predicate"]["cas_uri"] == f"cas://reachability/runtime/{digest}"
    assert json.loads(gzip.decompress(trace))["count"] == 2
