"""The real server process (`signals serve`), driven by the runbook's curl and by
`stella ingest`; a client that disconnects mid-body (recorded, nothing kept); and a server
killed mid-ingest.

The `stella` and `signals` commands a test is about run as console scripts, as an operator
runs them; its set-up commands (make a key, sign a window, trust a key) run the same commands
in this process (`set_up`: about 1 s of CPU less each than an interpreter start-up; tests/cli
starts their console scripts)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from click.testing import Result
from typer import Typer
from typer.testing import CliRunner

from stella_signals.api._bridge import SMALL_BODY_BYTES
from stella_signals.cas import CasUri, Namespace
from stella_signals.cli.signals import app as signals_app
from stella_signals.cli.stella import app as stella_app
from stella_signals.storage import SqlRepository
from stella_signals.tenancy import TenantId
from stella_signals.timeline import check_chain
from stella_signals.wiring import Settings, open_blob_store
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes, write_trace
from tests.realservers.backends import Backend, issue_token
from tests.realservers.signals_process import BIN, SignalsProcess, free_port

#: Real `signals serve` processes (docs/testing.md).
pytestmark = pytest.mark.e2e

ACME = TenantId("acme")

SPEC = SynthSpec(3000, seed=11, symbols=400, purls=30)


@dataclass
class Server:
    """One `signals serve` process on a deployment (embedded, or PostgreSQL + S3)."""

    process: SignalsProcess
    backend: Backend
    data_dir: Path
    token_file: Path
    #: The tenant this test works in (its token's only tenant).
    tenant: str = "acme"

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def port(self) -> int:
        assert self.process.port is not None
        return self.process.port

    def start(self) -> None:
        self.process.start()

    def kill(self) -> None:
        self.process.kill()

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token_file.read_text().strip()}",
            "X-Stella-Tenant": self.tenant,
        }

    def settings(self) -> Settings:
        return self.backend.settings(self.data_dir)

    def counts(self) -> dict[str, int]:
        repo = SqlRepository(self.settings().effective_database_url)
        try:
            with repo.engine.connect() as db:
                return {
                    table: db.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()  # noqa: S608
                    for table in ("ingests", "facts", "timeline_events")
                }
        finally:
            repo.close()

    def runtime_uris(self) -> list[CasUri]:
        store = open_blob_store(self.settings())
        return list(store.iter_uris(TenantId(self.tenant), Namespace.RUNTIME))

    def staged_files(self) -> list[Path]:
        """Uploads not yet published (spooled or staged) under the server's data dir."""
        return [p for p in self.data_dir.rglob("*") if p.is_file() and ".staging" in p.parts]


def start_server(root: Path, backend: Backend, tenant: str = "acme") -> Server:
    """`signals serve` on a deployment in ``root``, with a read+write token of ``tenant``."""
    data_dir = root / "data"
    deployment = ["--data-dir", str(data_dir), *backend.flags()]
    token_file = root / "token"
    token_file.write_text(issue_token(backend, data_dir, tenant) + "\n")
    process = SignalsProcess(
        ["serve", *deployment], root / "server.log", env=backend.environ, port=free_port()
    )
    instance = Server(process, backend, data_dir, token_file, tenant)
    instance.start()
    return instance


@pytest.fixture
def server(tmp_path: Path, backend: Backend) -> Iterator[Server]:
    """A server of this test's own, for tests that kill it or need tenant ``acme``."""
    instance = start_server(tmp_path, backend)
    yield instance
    instance.process.stop()


@pytest.fixture(scope="module")
def shared_server(
    tmp_path_factory: pytest.TempPathFactory, module_backend: Backend
) -> Iterator[Server]:
    """One server per deployment for this module's tests that leave it running."""
    instance = start_server(tmp_path_factory.mktemp("server"), module_backend)
    yield instance
    instance.process.stop()


@pytest.fixture
def tenant_server(shared_server: Server, tmp_path: Path) -> Server:
    """The shared server, seen by a tenant of this test's own: its graphs, ingests and
    timeline start empty, as on a fresh server."""
    tenant = f"t{secrets.token_hex(6)}"
    token_file = tmp_path / "token"
    token = issue_token(shared_server.backend, shared_server.data_dir, tenant)
    token_file.write_text(token + "\n")
    return replace(shared_server, token_file=token_file, tenant=tenant)


def set_up(app: Typer, *args: str) -> Result:
    """A set-up command (`stella`, `signals` or `signals-offline`), run in this process (a
    deployment's AWS_* variables are already in its environment: `module_backend`,
    `backend`); it must succeed."""
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, (args, done.output, done.exception)
    return done


def post_graph(server: Server) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/graphs", content=graph_bytes(SPEC), headers=server.headers()
    )
    assert response.status_code == 201, response.text
    graph_hash: str = response.json()["graph_hash"]
    return graph_hash


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_runbook_curl_works_as_written(tenant_server: Server, tmp_path: Path) -> None:
    graph = post_graph(tenant_server)
    trace = write_trace(tmp_path / "runtime-trace.ndjson.gz", SPEC)
    out = subprocess.run(
        ["curl", "-sS", "-i",
         "-H", f"Authorization: Bearer {tenant_server.token_file.read_text().strip()}",
         "-H", f"X-Stella-Tenant: {tenant_server.tenant}",
         "-H", "Content-Type: application/x-ndjson",
         "--data-binary", f"@{trace.path}",
         f"{tenant_server.url}/api/v1/runtime-facts?graph_hash={graph}"],
        check=True, capture_output=True,
    ).stdout.decode()  # fmt: skip
    while out.startswith("HTTP/1.1 100"):  # curl's Expect: 100-continue for larger bodies
        out = out.partition("\r\n\r\n")[2]
    head, _, body = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 201")
    headers = {
        k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head.splitlines()[1:])
    }
    assert headers["content-sha256"] == trace.sha256
    assert headers["x-graph-hash"] == graph
    assert json.loads(body)["ingest_id"] == headers["x-ingest-id"]


def test_stella_ingest_and_timeline_verify(tenant_server: Server, tmp_path: Path) -> None:
    graph = post_graph(tenant_server)
    trace = write_trace(tmp_path / "runtime-trace.ndjson.gz", SPEC)
    common = [
        *("--server", tenant_server.url, "--tenant", tenant_server.tenant),
        *("--token-file", str(tenant_server.token_file)),
    ]

    def stella(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "stella"), *args], capture_output=True, text=True)

    first = stella("ingest", str(trace.path), "--graph-hash", graph, *common)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "ingested"
    again = stella("ingest", str(trace.path), "--graph-hash", graph, *common)
    assert again.returncode == 0 and json.loads(again.stdout)["duplicate"] is True
    orphan = stella("ingest", str(trace.path), "--graph-hash", "blake3:" + "1" * 64, *common)
    assert orphan.returncode == 7
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b'{"symbol_id": 1}\n')
    invalid = stella("ingest", str(bad), "--graph-hash", graph, *common)
    assert invalid.returncode == 6 and "line 1: symbol_id: wrong_type" in invalid.stderr
    verify = stella("timeline", "verify", *common)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    export = tmp_path / "export.ndjson"
    export.write_bytes(
        httpx.get(
            f"{tenant_server.url}/api/v1/timeline/export", headers=tenant_server.headers()
        ).content
    )
    assert stella("timeline", "verify", str(export)).returncode == 0
    lines = export.read_bytes().splitlines()
    tampered = json.loads(lines[1])
    tampered["attributes"]["records"] = 1
    lines[1] = json.dumps(tampered).encode()
    export.write_bytes(b"\n".join(lines) + b"\n")
    broken = stella("timeline", "verify", str(export), "--json")
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["first_break"]["seq"] == 2


def test_stella_ingest_sends_the_probe_manifest(tenant_server: Server, tmp_path: Path) -> None:
    from tests.trace._lines import probe_manifest

    graph = post_graph(tenant_server)
    trace = write_trace(tmp_path / "runtime-trace.ndjson.gz", SPEC)
    manifest = tmp_path / "probe-manifest.json"
    manifest.write_bytes(probe_manifest(trace.path.read_bytes()))
    common = [
        *("--server", tenant_server.url, "--tenant", tenant_server.tenant),
        *("--token-file", str(tenant_server.token_file)),
        *("--graph-hash", graph),
    ]

    def ingest(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(BIN / "stella"), "ingest", str(trace.path), *common, *args]
        return subprocess.run(command, capture_output=True, text=True)

    other = tmp_path / "other-manifest.json"
    other.write_bytes(probe_manifest(b"another window's trace"))
    mismatch = ingest("--probe-manifest", str(other))
    assert mismatch.returncode == 3, mismatch.stderr  # SPEC §10: hash mismatch
    done = ingest("--probe-manifest", str(manifest))
    assert done.returncode == 0, done.stderr
    digest = "sha256:" + hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert json.loads(done.stdout)["probe_manifest_digest"] == digest
    missing = ingest("--probe-manifest", str(tmp_path / "nowhere.json"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_stella_ingest_resends_a_signed_window_with_its_envelope(
    tenant_server: Server, tmp_path: Path
) -> None:
    """A probe window the server refused (or never got) is re-sent by hand with its
    envelope: `stella ingest --dsse` checks it against the tenant's keys like the probe's
    own upload, and a wrong or untrusted envelope exits 4 and ingests nothing."""
    graph = post_graph(tenant_server)
    trace = write_trace(tmp_path / "runtime-trace.ndjson.gz", SPEC)
    stella = str(BIN / "stella")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*args], capture_output=True, text=True)

    def sign(keys: Path) -> Path:
        set_up(stella_app, "keys", "generate", "--out", str(keys))
        envelope = keys / "runtime.dsse.json"
        set_up(
            stella_app, "attest", "runtime", str(trace.path), "--key", str(keys / "key.pem"),
            "--bundle", str(envelope), "--tenant", tenant_server.tenant, "--graph-hash", graph,
        )  # fmt: skip
        return envelope

    trusted, stranger = sign(tmp_path / "trusted"), sign(tmp_path / "stranger")
    deployment = ["--data-dir", str(tenant_server.data_dir), *tenant_server.backend.flags()]
    trust = ["keys", "add", str(tmp_path / "trusted" / "key.pub.pem")]
    set_up(signals_app, *trust, "--tenant", tenant_server.tenant, *deployment)
    common = [
        *("--server", tenant_server.url, "--tenant", tenant_server.tenant),
        *("--token-file", str(tenant_server.token_file), "--graph-hash", graph),
    ]
    before = tenant_server.counts()["facts"]
    refused = run(stella, "ingest", str(trace.path), *common, "--dsse", str(stranger))
    assert refused.returncode == 4, refused.stderr
    assert "dsse_invalid" in refused.stderr
    assert tenant_server.counts()["facts"] == before
    done = run(stella, "ingest", str(trace.path), *common, "--dsse", str(trusted))
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    assert receipt["status"] == "ingested"
    assert receipt["dsse_digest"] == "sha256:" + hashlib.sha256(trusted.read_bytes()).hexdigest()
    missing = run(stella, "ingest", str(trace.path), *common, "--dsse", str(tmp_path / "no.json"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.parametrize("media", ["ndjson", "ndjson-streamed", "multipart"])
def test_a_client_that_stops_mid_body_leaves_only_its_recorded_refusal(
    tenant_server: Server, media: str
) -> None:
    """A small body is read whole before the pipeline runs, a larger one streams into it
    (`api/_bridge.py`): either way the disconnect is recorded by the pipeline."""
    graph = post_graph(tenant_server)
    before = tenant_server.counts()
    if media == "ndjson-streamed":
        trace = gzip.compress(trace_bytes(replace(SPEC, records=12_000)))
        assert len(trace) > SMALL_BODY_BYTES
    else:
        trace = gzip.compress(trace_bytes(SPEC))
        assert len(trace) <= SMALL_BODY_BYTES
    if media.startswith("ndjson"):
        content_type, body = "application/x-ndjson", trace
    else:
        content_type = "multipart/form-data; boundary=b0undary"
        body = (
            b'--b0undary\r\nContent-Disposition: form-data; name="runtime"; filename="t.gz"\r\n'
            b"Content-Type: application/gzip\r\n\r\n" + trace + b"\r\n--b0undary--\r\n"
        )
    with socket.create_connection(("127.0.0.1", tenant_server.port)) as sock:
        request = (
            f"POST /api/v1/runtime-facts?graph_hash={graph} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Authorization: {tenant_server.headers()['Authorization']}\r\n"
            f"X-Stella-Tenant: {tenant_server.tenant}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(request + body[: len(body) // 2])
        time.sleep(0.5)
    deadline = time.monotonic() + 20  # the server notices the disconnect on its own time
    while (
        tenant_server.staged_files() or tenant_server.counts()["ingests"] == before["ingests"]
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tenant_server.staged_files() == []
    assert tenant_server.counts() == before | {
        "ingests": before["ingests"] + 1,
        "timeline_events": before["timeline_events"] + 1,
    }
    assert tenant_server.runtime_uris() == []
    repo = SqlRepository(tenant_server.settings().effective_database_url)
    try:
        tenant = TenantId(tenant_server.tenant)
        last = list(repo.iter_events(tenant))[-1]
        record = repo.get_ingest(tenant, str(last.attributes["ingest_id"]))
    finally:
        repo.close()
    assert last.event_type == "runtime.ingest.failed"
    assert last.attributes["reason"] == "client_disconnected"
    assert "content_sha256" not in last.attributes  # nothing was kept to name
    assert record is not None and (record.status, record.reason) == (
        "failed",
        "client_disconnected",
    )


def test_a_server_killed_mid_ingest_leaves_all_or_nothing(server: Server, tmp_path: Path) -> None:
    big = SynthSpec(150_000, seed=12, symbols=400, purls=30)
    response = httpx.post(
        f"{server.url}/api/v1/graphs", content=graph_bytes(big), headers=server.headers()
    )
    graph = response.json()["graph_hash"]
    rng = random.Random(5)
    for round_ in range(3):
        trace = write_trace(
            tmp_path / f"t{round_}.ndjson.gz",
            SynthSpec(150_000, seed=100 + round_, symbols=400, purls=30),
        )
        sender = threading.Thread(
            target=lambda path=trace.path: _post_quietly(server, graph, path), daemon=True
        )
        sender.start()
        time.sleep(rng.uniform(0.2, 1.5))
        server.kill()
        sender.join(10)
        server.start()
    # every accepted ingest is whole: its blob, facts and event; nothing else exists
    repo = SqlRepository(server.settings().effective_database_url)
    store = open_blob_store(server.settings())
    try:
        with repo.engine.connect() as db:
            accepted = db.exec_driver_sql(
                "SELECT ingest_id, content_sha256, timeline_event_id FROM ingests"
                " WHERE status = 'ingested'"
            ).all()
            for ingest_id, sha, event_id in accepted:
                facts = sa.text("SELECT count(*) FROM facts WHERE ingest_id = :i")
                assert db.execute(facts, {"i": ingest_id}).scalar_one() > 0
                events = sa.text("SELECT count(*) FROM timeline_events WHERE event_id = :e")
                assert db.execute(events, {"e": event_id}).scalar_one() == 1
                assert store.exists(ACME, CasUri.of(Namespace.RUNTIME, sha))
            orphan_facts = db.exec_driver_sql(
                "SELECT count(*) FROM facts WHERE ingest_id NOT IN (SELECT ingest_id FROM ingests)"
            ).scalar_one()
            assert orphan_facts == 0
        events = list(repo.iter_events(ACME))
    finally:
        repo.close()
    assert check_chain(events, tenant="acme").ok
    # and the service still ingests after the crashes
    again = write_trace(tmp_path / "after.ndjson.gz", SPEC)
    response = httpx.post(
        f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
        content=again.path.read_bytes(),
        headers=server.headers() | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 201, response.text


def _post_quietly(server: Server, graph: str, path: Path) -> None:
    try:
        httpx.post(
            f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
            content=path.read_bytes(),
            headers=server.headers() | {"Content-Type": "application/x-ndjson"},
            timeout=30,
        )
    except httpx.HTTPError:
        pass


def test_stella_graph_verify_against_the_server(tenant_server: Server, tmp_path: Path) -> None:
    graph = post_graph(tenant_server)
    trace = write_trace(tmp_path / "runtime-trace.ndjson.gz", SPEC)
    args = [
        *("graph", "verify", "--runtime", str(trace.path), "--graph", graph, "--json"),
        *("--server", tenant_server.url, "--tenant", tenant_server.tenant),
        *("--token-file", str(tenant_server.token_file)),
    ]
    result = subprocess.run([str(BIN / "stella"), *args], capture_output=True, text=True)
    report = json.loads(result.stdout)
    assert result.returncode == (0 if report["unmapped_symbols"] == 0 else 1), result.stderr
    assert report["records"] == SPEC.records and report["graph_hash"] == graph
    local = tmp_path / "graph.json"
    local.write_bytes(graph_bytes(SPEC))
    offline_args = [
        "graph",
        "verify",
        "--runtime",
        str(trace.path),
        "--graph",
        str(local),
        "--json",
    ]
    offline = subprocess.run([str(BIN / "stella"), *offline_args], capture_output=True, text=True)
    assert json.loads(offline.stdout) == report
