"""`stella keys generate`, `stella attest runtime` and `stella attest verify`, end to end."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from stella_signals.attest import (
    IN_TOTO_PAYLOAD_TYPE,
    RUNTIME_TRACE_PREDICATE,
    load_public_key,
    load_signer,
    parse_envelope,
    parse_statement,
)
from stella_signals.cli._attest_cmds import attest_app, keys_app
from stella_signals.digests import sha256_hex
from tests.trace._lines import gz, line, ndjson

app = typer.Typer()
app.add_typer(keys_app, name="keys")
app.add_typer(attest_app, name="attest")

runner = CliRunner()
#: No ambient tenant: every test says which tenant it means.
ENV: dict[str, str | None] = {"STELLA_TENANT": None}
GRAPH_HASH = "blake3:" + "0f" * 32


def run(*args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    return runner.invoke(app, [str(a) for a in args], env={**ENV, **(env or {})})


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "runtime-trace.ndjson.gz"
    path.write_bytes(gz(ndjson(line(), line(count=5, container="c2"))))
    return path


def generate(directory: Path, kind: str = "ed25519") -> str:
    result = run("keys", "generate", "--out", directory, "--type", kind)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def attest(trace: Path, keydir: Path, bundle: Path, *extra: str) -> Result:
    return run(
        "attest", "runtime", trace, "--key", keydir / "key.pem", "--bundle", bundle,
        "--tenant", "acme", *extra,
    )  # fmt: skip


# --- keys generate --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
def test_keys_generate_writes_a_private_and_a_public_key(tmp_path: Path, kind: str) -> None:
    keydir = tmp_path / "new" / "keys"
    keyid = generate(keydir, kind)
    private, public = keydir / "key.pem", keydir / "key.pub.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    signer = load_signer(private.read_bytes())
    assert signer.keyid == keyid
    assert signer.public_key.kind == kind
    assert load_public_key(public.read_bytes()).keyid == keyid
    assert sorted(p.name for p in keydir.iterdir()) == ["key.pem", "key.pub.pem"]  # no temp left


def test_keys_generate_defaults_to_ed25519(tmp_path: Path) -> None:
    result = run("keys", "generate", "--out", tmp_path / "k")
    assert result.exit_code == 0, result.output
    assert load_signer((tmp_path / "k" / "key.pem").read_bytes()).public_key.kind == "ed25519"


@pytest.mark.parametrize("existing", ["key.pem", "key.pub.pem"])
def test_keys_generate_refuses_to_overwrite(tmp_path: Path, existing: str) -> None:
    keydir = tmp_path / "keys"
    keydir.mkdir()
    (keydir / existing).write_bytes(b"precious")
    result = run("keys", "generate", "--out", keydir)
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.output
    assert sorted(p.name for p in keydir.iterdir()) == [existing]  # nothing written
    assert (keydir / existing).read_bytes() == b"precious"


def test_keys_generate_twice_keeps_the_first_key(tmp_path: Path) -> None:
    keydir = tmp_path / "keys"
    generate(keydir)
    before = (keydir / "key.pem").read_bytes(), (keydir / "key.pub.pem").read_bytes()
    assert run("keys", "generate", "--out", keydir).exit_code == 2
    assert ((keydir / "key.pem").read_bytes(), (keydir / "key.pub.pem").read_bytes()) == before


def test_keys_generate_out_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    assert run("keys", "generate", "--out", path).exit_code == 2


def test_keys_generate_unknown_type_is_a_usage_error(tmp_path: Path) -> None:
    assert run("keys", "generate", "--out", tmp_path / "k", "--type", "rsa").exit_code == 2
    assert not (tmp_path / "k").exists()


# --- attest runtime -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
def test_attest_runtime_then_verify(tmp_path: Path, trace: Path, kind: str) -> None:
    keydir = tmp_path / "keys"
    keyid = generate(keydir, kind)
    bundle = tmp_path / "runtime.dsse.json"
    result = attest(trace, keydir, bundle, "--graph-hash", GRAPH_HASH)
    assert result.exit_code == 0, result.output
    trace_sha256 = sha256_hex(trace.read_bytes())
    assert f"keyid:   {keyid}" in result.stdout
    assert f"subject: {trace.name} sha256:{trace_sha256}" in result.stdout

    envelope = parse_envelope(bundle.read_bytes())
    assert envelope.payload_type == IN_TOTO_PAYLOAD_TYPE
    assert [s.keyid for s in envelope.signatures] == [keyid]
    statement = parse_statement(envelope.payload)
    assert statement.predicate_type == RUNTIME_TRACE_PREDICATE
    assert statement.subject[0].name == trace.name
    assert dict(statement.subject[0].digest) == {"sha256": trace_sha256}
    assert statement.predicate["tenant"] == "acme"
    assert statement.predicate["graph_hash"] == GRAPH_HASH
    assert statement.predicate["records"] == 2

    verify = run(
        "attest", "verify", bundle, "--runtime", trace, "--key", keydir / "key.pub.pem",
        "--tenant", "acme",
    )  # fmt: skip
    assert verify.exit_code == 0, verify.output
    assert f"signature 0: verified by {keyid} ({kind})" in verify.stdout
    assert f"predicate: {RUNTIME_TRACE_PREDICATE} (ok)" in verify.stdout
    assert f"subject:   {trace.name} sha256:{trace_sha256} (matches the trace)" in verify.stdout
    assert "tenant:    acme (ok)" in verify.stdout
    assert "result:    ok" in verify.stdout


def test_attest_runtime_tenant_from_the_environment(tmp_path: Path, trace: Path) -> None:
    keydir = tmp_path / "keys"
    generate(keydir)
    bundle = tmp_path / "b.json"
    result = run(
        "attest", "runtime", trace, "--key", keydir / "key.pem", "--bundle", bundle,
        env={"STELLA_TENANT": "env-tenant"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    statement = parse_statement(parse_envelope(bundle.read_bytes()).payload)
    assert statement.predicate["tenant"] == "env-tenant"
    assert "graph_hash" not in statement.predicate


@pytest.mark.parametrize(
    "extra",
    [[], ["--tenant", "Acme"], ["--tenant", "acme", "--graph-hash", "sha256:" + "0" * 64]],
    ids=["no-tenant", "bad-tenant", "bad-graph-hash"],
)
def test_attest_runtime_usage_errors(tmp_path: Path, trace: Path, extra: list[str]) -> None:
    keydir = tmp_path / "keys"
    generate(keydir)
    bundle = tmp_path / "b.json"
    result = run(
        "attest", "runtime", trace, "--key", keydir / "key.pem", "--bundle", bundle, *extra
    )
    assert result.exit_code == 2, result.output
    assert not bundle.exists()


def test_attest_runtime_invalid_trace_exits_6_and_writes_nothing(tmp_path: Path) -> None:
    keydir = tmp_path / "keys"
    generate(keydir)
    bad = tmp_path / "runtime-trace.ndjson"
    bad.write_bytes(ndjson(line(), line(count=0)))
    bundle = tmp_path / "b.json"
    result = attest(bad, keydir, bundle)
    assert result.exit_code == 6, result.output
    assert "out_of_range" in result.output
    assert not bundle.exists()
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"\n")
    assert attest(empty, keydir, bundle).exit_code == 6
    assert not bundle.exists()


def test_attest_runtime_unreadable_inputs_exit_2(tmp_path: Path, trace: Path) -> None:
    keydir = tmp_path / "keys"
    generate(keydir)
    bundle = tmp_path / "b.json"
    assert attest(tmp_path / "missing.ndjson", keydir, bundle).exit_code == 2
    not_a_key = tmp_path / "nokey"
    not_a_key.mkdir()
    (not_a_key / "key.pem").write_text("not a key")
    assert attest(trace, not_a_key, bundle).exit_code == 2
    assert attest(trace, tmp_path / "nowhere", bundle).exit_code == 2
    assert not bundle.exists()


def test_attest_runtime_refuses_to_overwrite_without_force(tmp_path: Path, trace: Path) -> None:
    keydir = tmp_path / "keys"
    generate(keydir)
    bundle = tmp_path / "runtime.dsse.json"
    bundle.write_bytes(b"precious")
    result = attest(trace, keydir, bundle)
    assert result.exit_code == 2
    assert "--force" in result.output
    assert bundle.read_bytes() == b"precious"
    assert attest(trace, keydir, bundle, "--force").exit_code == 0
    parse_envelope(bundle.read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["keys", "runtime.dsse.json", trace.name]
    )  # no temporary file left behind


# --- attest verify --------------------------------------------------------------------------


@pytest.fixture
def signed(tmp_path: Path, trace: Path) -> tuple[Path, Path]:
    """(bundle, keydir): the trace attested for tenant acme with a fresh Ed25519 key."""
    keydir = tmp_path / "keys"
    generate(keydir)
    bundle = tmp_path / "runtime.dsse.json"
    assert attest(trace, keydir, bundle).exit_code == 0
    return bundle, keydir


def verify(bundle: Path, trace: Path, *keys: Path, extra: tuple[str, ...] = ()) -> Result:
    key_args = [arg for key in keys for arg in ("--key", str(key))]
    return run("attest", "verify", bundle, "--runtime", trace, *key_args, *extra)


def test_verify_without_tenant_skips_the_tenant_check(
    signed: tuple[Path, Path], trace: Path
) -> None:
    bundle, keydir = signed
    result = verify(bundle, trace, keydir / "key.pub.pem")
    assert result.exit_code == 0, result.output
    assert "tenant:    'acme' (not checked: no --tenant)" in result.stdout


def test_verify_with_another_key_exits_4(
    signed: tuple[Path, Path], trace: Path, tmp_path: Path
) -> None:
    bundle, _ = signed
    other = tmp_path / "other"
    generate(other, "ecdsa-p256")
    result = verify(bundle, trace, other / "key.pub.pem")
    assert result.exit_code == 4, result.output
    assert "signature 0: FAILED unknown_key" in result.stdout
    assert "[UNVERIFIED" in result.stdout
    assert "FAILED (dsse_invalid)" in result.stdout


def test_verify_counts_a_trusted_key_among_others(
    signed: tuple[Path, Path], trace: Path, tmp_path: Path
) -> None:
    bundle, keydir = signed
    other = tmp_path / "other"
    generate(other)
    result = verify(bundle, trace, other / "key.pub.pem", keydir / "key.pub.pem")
    assert result.exit_code == 0, result.output
    threshold = verify(
        bundle, trace, other / "key.pub.pem", keydir / "key.pub.pem", extra=("--threshold", "2")
    )
    assert threshold.exit_code == 4
    assert "signers:   1 of 2 required trusted key(s)" in threshold.stdout


def test_verify_modified_trace_exits_3(
    signed: tuple[Path, Path], trace: Path, tmp_path: Path
) -> None:
    bundle, keydir = signed
    modified = tmp_path / "modified" / trace.name
    modified.parent.mkdir()
    modified.write_bytes(trace.read_bytes() + b"\n")
    result = verify(bundle, modified, keydir / "key.pub.pem", extra=("--tenant", "acme"))
    assert result.exit_code == 3, result.output
    assert "(differs)" in result.stdout
    assert "FAILED (hash_mismatch)" in result.stdout


def test_verify_wrong_tenant_exits_4(signed: tuple[Path, Path], trace: Path) -> None:
    bundle, keydir = signed
    result = verify(bundle, trace, keydir / "key.pub.pem", extra=("--tenant", "other"))
    assert result.exit_code == 4, result.output
    assert "tenant:    MISMATCH: statement says 'acme', expected other" in result.stdout


def test_verify_json_report(signed: tuple[Path, Path], trace: Path, tmp_path: Path) -> None:
    bundle, keydir = signed
    keyid = load_public_key((keydir / "key.pub.pem").read_bytes()).keyid
    ok = json.loads(
        verify(bundle, trace, keydir / "key.pub.pem", extra=("--json", "--tenant", "acme")).stdout
    )
    assert ok["ok"] is True and ok["exit_code"] == 0 and ok["reason"] is None
    assert ok["envelope"]["keyids"] == [keyid]
    assert ok["predicate_type"] == RUNTIME_TRACE_PREDICATE
    assert ok["subject_match"] is True
    assert ok["tenant"] == {"expected": "acme", "statement": "acme", "checked": True, "ok": True}
    other = tmp_path / "m.ndjson.gz"
    other.write_bytes(b"x" + trace.read_bytes())
    mismatch = verify(bundle, other, keydir / "key.pub.pem", extra=("--json",))
    assert mismatch.exit_code == 3
    body = json.loads(mismatch.stdout)
    assert (body["reason"], body["exit_code"], body["subject_match"]) == ("hash_mismatch", 3, False)


@pytest.mark.parametrize(
    "content",
    [b"not json", b"{}", b'{"payload": "", "payloadType": "x", "signatures": []}'],
    ids=["not-json", "empty-object", "no-signatures"],
)
def test_verify_malformed_envelope_exits_4(
    signed: tuple[Path, Path], trace: Path, content: bytes
) -> None:
    bundle, keydir = signed
    bundle.write_bytes(content)
    result = verify(bundle, trace, keydir / "key.pub.pem", extra=("--json",))
    assert result.exit_code == 4, result.output
    assert json.loads(result.stdout)["reason"] == "dsse_invalid"
    assert verify(bundle, trace, keydir / "key.pub.pem").exit_code == 4


def test_verify_unreadable_inputs_exit_2(
    signed: tuple[Path, Path], trace: Path, tmp_path: Path
) -> None:
    bundle, keydir = signed
    pub = keydir / "key.pub.pem"
    assert verify(tmp_path / "missing.json", trace, pub).exit_code == 2
    assert verify(bundle, tmp_path / "missing.ndjson", pub).exit_code == 2
    assert verify(bundle, trace, tmp_path / "missing.pem").exit_code == 2
    assert verify(bundle, trace, keydir / "key.pem").exit_code == 2  # a private key
    assert verify(bundle, trace).exit_code == 2  # no --key at all
    assert verify(bundle, trace, pub, extra=("--threshold", "0")).exit_code == 2
    assert verify(bundle, trace, pub, extra=("--tenant", "Bad_Tenant")).exit_code == 2


# --- time-anchor --time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("2027-01-31T02:00:00+02:00", "2027-01-31T00:00:00Z"),
        ("2027-01-31t00:00:00.5z", "2027-01-31T00:00:00.500000Z"),
        ("2027-01-31T00:00:00Z", "2027-01-31T00:00:00Z"),
    ],
)
def test_time_anchor_time_is_rfc3339(tmp_path: Path, text: str, written: str) -> None:
    generate(tmp_path / "k")
    out = tmp_path / "anchor.json"
    result = run(
        "attest", "time-anchor", "--key", tmp_path / "k" / "key.pem", "--out", out,
        "--counter", "1", "--time", text,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"time:    {written} " in result.stdout


@pytest.mark.parametrize(
    "text", ["2027-01-31T00:00:00", "2027-01-31", "20270131T000000Z", "2027-01-31T00:00Z"]
)
def test_time_anchor_time_not_rfc3339_is_a_usage_error(tmp_path: Path, text: str) -> None:
    generate(tmp_path / "k")
    out = tmp_path / "anchor.json"
    result = run(
        "attest", "time-anchor", "--key", tmp_path / "k" / "key.pem", "--out", out,
        "--counter", "1", "--time", text,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "RFC 3339" in result.output and not out.exists()
