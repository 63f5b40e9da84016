"""Crash consistency (issue #9, item 3): SIGKILL at random points, restart, check.

* ``server``  — `signals serve` killed while clients post traces (new ones, duplicates);
  after each restart the invariants of `reliability.state` hold, and at the end every
  interrupted request, retried, is ingested or reported a duplicate.
* ``offline`` — `signals-offline ingest-runtime` killed mid-ingest, then run again.
* ``sync``    — `signals-offline sync` killed mid-push, then run again: the online tenant
  holds each offline event exactly once.

    python reliability/crash.py [--rounds N] [--backend embedded|postgres-s3] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reliability._runner import RESULTS, finish  # noqa: E402
from reliability.state import check_state  # noqa: E402
from stella_signals.graph import canonical_graph, parse_graph  # noqa: E402
from stella_signals.tenancy import TenantId  # noqa: E402
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes  # noqa: E402
from tests.realservers.backends import Backend, issue_token, standalone_scaleout  # noqa: E402
from tests.realservers.signals_process import (  # noqa: E402
    BIN,
    SignalsProcess,
    free_port,
    serve_with_token,
)

ACME = TenantId("acme")
GRAPH_SPEC = SynthSpec(20_000, seed=7, symbols=400, purls=30)


def trace_pool(count: int, seed: int, *, first: int = 0) -> list[bytes]:
    """Distinct gzip traces of mixed sizes (5 k to 120 k records)."""
    rng = random.Random(seed * 7919 + first)
    sizes = [5_000, 30_000, 120_000]
    return [_trace(rng.choice(sizes), seed * 1000 + n) for n in range(first, first + count)]


@functools.lru_cache(maxsize=16)
def _trace(records: int, seed: int) -> bytes:
    """One synthetic gzip trace. The runs on each deployment send the same ones: made once
    per process (a 120 k-record trace takes about 0.3 CPU-s), a few at a time."""
    spec = SynthSpec(records, seed=seed, symbols=400, purls=30)
    return gzip.compress(trace_bytes(spec), 1, mtime=0)


def _post(url: str, headers: dict[str, str], graph: str, body: bytes) -> int | None:
    try:
        response = httpx.post(
            f"{url}/api/v1/runtime-facts?graph_hash={graph}",
            content=body,
            headers=headers | {"Content-Type": "application/x-ndjson"},
            timeout=60,
        )
    except httpx.HTTPError:
        return None
    return response.status_code


def server_rounds(
    backend: Backend, work: Path, rounds: int, seed: int = 1, *, kill_within: float = 2.0
) -> dict[str, Any]:
    """``rounds`` of: traces posted, the server killed ``0.05`` to ``kill_within`` seconds
    later, restarted, checked. An ingest of these traces takes 0.1 to 0.4 s on the 2-CPU
    VM: the shorter ``kill_within``, the more kills land mid-request (``interrupted``)."""
    rng = random.Random(seed)
    server, headers = serve_with_token(backend, work / "data", work / "server.log")
    sent: list[bytes] = []
    stats: dict[str, Any] = {"rounds": rounds, "answered": {}, "interrupted": 0}
    violations: list[str] = []
    interrupted: list[bytes] = []
    unreferenced_max = 0
    try:
        graph = httpx.post(
            f"{server.url}/api/v1/graphs", content=graph_bytes(GRAPH_SPEC), headers=headers,
            timeout=120,
        ).json()["graph_hash"]  # fmt: skip
        for round_ in range(rounds):
            # Two new traces and, after the first round, one sent before (a duplicate).
            bodies = trace_pool(2, seed, first=2 * round_)
            if sent:
                bodies.append(rng.choice(sent))
            sent += bodies[:2]
            outcomes: list[int | None] = [None] * len(bodies)

            def send(i: int, body: bytes, outcomes: list[int | None] = outcomes) -> None:
                outcomes[i] = _post(server.url, headers, graph, body)

            senders = [
                threading.Thread(target=send, args=(i, body)) for i, body in enumerate(bodies)
            ]
            for sender in senders:
                sender.start()
            time.sleep(rng.uniform(0.05, kill_within))
            server.kill()
            for sender in senders:
                sender.join(60)
            for body, status in zip(bodies, outcomes, strict=True):
                if status is None:
                    stats["interrupted"] += 1
                    interrupted.append(body)
                else:
                    stats["answered"][str(status)] = stats["answered"].get(str(status), 0) + 1
                    if status >= 500:
                        violations.append(f"round {round_}: answered {status}")
            server.start()
            state = check_state(backend.settings(work / "data"), ACME)
            unreferenced_max = max(unreferenced_max, state.unreferenced_blobs)
            violations += [f"round {round_}: {v}" for v in state.violations]
        retried: dict[str, int] = {}
        for body in interrupted:
            status = _post(server.url, headers, graph, body)
            retried[str(status)] = retried.get(str(status), 0) + 1
            if status not in (200, 201, 202):
                violations.append(f"retry of an interrupted request answered {status}")
        final = check_state(backend.settings(work / "data"), ACME)
        violations += [f"final: {v}" for v in final.violations]
        if final.unreferenced_blobs:
            violations.append(f"final: {final.unreferenced_blobs} blobs never adopted")
    finally:
        server.stop()
    return stats | {
        "retried": retried,
        "unreferenced_blobs_max_between_rounds": unreferenced_max,
        "final": final.to_dict(),
        "violations": violations,
    }


def offline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "signals-offline"), *args], capture_output=True, text=True, timeout=300
    )


def run_here(program: str, *args: str) -> None:
    """``program ARGS`` (`signals` or `signals-offline`) run in this process, through typer's
    runner: the command's own code without a process start-up (about a second of CPU each).
    For set-up steps only (tests/offline and tests/cli run these commands as processes);
    what is killed runs as a process. Raises on a non-zero exit."""
    from typer.testing import CliRunner

    from stella_signals.cli import offline as offline_cli
    from stella_signals.cli import signals as signals_cli

    app = {"signals": signals_cli.app, "signals-offline": offline_cli.app}[program]
    result = CliRunner().invoke(app, list(args))
    if result.exit_code != 0:
        raise RuntimeError(f"{program} {args[0]} exited {result.exit_code}: {result.output}")


def _bundle(root: Path, trace: bytes, graph_hash: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "runtime-trace.ndjson.gz").write_bytes(trace)
    manifest = {
        "schema": "stella.reach.runtime-bundle/v1",
        "tenant": "acme",
        "graph_hash": graph_hash,
        "generated_at": "2026-03-01T00:00:00Z",
        "files": [
            {
                "path": "runtime-trace.ndjson.gz",
                "sha256": hashlib.sha256(trace).hexdigest(),
                "size": len(trace),
            }
        ],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _ingest_args(bundle: Path, graph_hash: str, data_dir: Path) -> list[str]:
    return ["ingest-runtime", "--tenant", "acme", "--graph-hash", graph_hash,
            "--runtime", str(bundle / "runtime-trace.ndjson.gz"),
            "--manifest", str(bundle / "manifest.json"), "--data-dir", str(data_dir)]  # fmt: skip


def _site(work: Path) -> tuple[Path, str]:
    """An offline site's data dir with the graph imported."""
    site = work / "site"
    work.mkdir(parents=True, exist_ok=True)
    graph = work / "graph.json"
    graph.write_bytes(graph_bytes(GRAPH_SPEC))
    run_here(
        "signals-offline", "import-graph", str(graph), "--tenant", "acme", "--data-dir", str(site)
    )
    return site, str(canonical_graph(parse_graph(graph_bytes(GRAPH_SPEC))).hash)


def offline_rounds(work: Path, rounds: int, seed: int = 2) -> dict[str, Any]:
    rng = random.Random(seed)
    site, graph_hash = _site(work)
    pool = trace_pool(rounds, seed)
    violations: list[str] = []
    results: dict[str, int] = {}
    for round_, trace in enumerate(pool):
        bundle = _bundle(work / f"bundle{round_}", trace, graph_hash)
        before = _blob_files(site)
        process = subprocess.Popen(
            [str(BIN / "signals-offline"), *_ingest_args(bundle, graph_hash, site)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Not a fixed delay: the start-up (imports, opening the store) takes most of a run
        # and its length depends on the machine's load, so a kill at a fixed time lands in
        # the start-up on a busy machine and after the commit on a quiet one. The kill
        # waits for the ingest's first blob file (staged or published), then a random
        # moment of the write, the publication and the commit that follow.
        started = _wait_for_new_blob(site, before, process)
        time.sleep(rng.uniform(0.0, 0.15))
        killed = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        wrote = _blob_files(site) - before
        again = offline(*_ingest_args(bundle, graph_hash, site))
        if not killed:
            key = "finished before the kill"
        elif started:
            key = f"killed mid-ingest ({len(wrote)} blob files), rerun exit {again.returncode}"
        else:
            key = f"killed before writing, rerun exit {again.returncode}"
        results[key] = results.get(key, 0) + 1
        if again.returncode != 0:
            violations.append(f"round {round_}: rerun exited {again.returncode}: {again.stderr}")
        state = check_state(Backend("embedded").settings(site), ACME)
        violations += [f"round {round_}: {v}" for v in state.violations]
    final = check_state(Backend("embedded").settings(site), ACME)
    if final.accepted != rounds:
        violations.append(f"{final.accepted} ingests for {rounds} bundles")
    if final.unreferenced_blobs:
        violations.append(f"{final.unreferenced_blobs} blobs never adopted")
    return {
        "rounds": rounds,
        "outcomes": results,
        "final": final.to_dict(),
        "violations": violations,
    }


def _blob_files(data_dir: Path) -> set[Path]:
    """Files of the site's blob store, its staging area included."""
    return {path for path in (data_dir / "cas").rglob("*") if path.is_file()}


def _wait_for_new_blob(
    data_dir: Path, before: set[Path], process: subprocess.Popen[bytes], timeout: float = 60.0
) -> bool:
    """Whether a blob file ``before`` does not hold appeared while ``process`` ran."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if _blob_files(data_dir) - before:
            return True
        time.sleep(0.002)
    return bool(_blob_files(data_dir) - before)


def sync_rounds(backend: Backend, work: Path, rounds: int, seed: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    site, graph_hash = _site(work)
    # three events a round (one a batch, --batch-size 1 below), so that every round of a long
    # run still has batches left to interrupt
    for n, trace in enumerate(trace_pool(3 * rounds + 3, seed)):
        run_here(
            "signals-offline",
            *_ingest_args(_bundle(work / f"b{n}", trace, graph_hash), graph_hash, site),
        )
    flags = ["--data-dir", str(work / "online"), *backend.flags()]
    token_file = work / "token"
    token_file.write_text(issue_token(backend, work / "online", "acme") + "\n")
    key = work / "site.pub.pem"
    run_here("signals", "keys", "export-service", "--data-dir", str(site), "--out", str(key))
    run_here("signals", "keys", "add", str(key), "--tenant", "acme", "--purpose", "sync", *flags)
    server = SignalsProcess(
        ["serve", *flags], work / "server.log", env=backend.environ, port=free_port()
    )
    server.start()
    common = ["--tenant", "acme", "--server", server.url, "--token-file", str(token_file),
              "--data-dir", str(site), "--batch-size", "1"]  # fmt: skip
    violations: list[str] = []
    kills = 0
    site_events = check_state(Backend("embedded").settings(site), ACME).events

    def imported() -> list[str]:
        """The offline events the online tenant holds (their origin ids), in order."""
        export = httpx.get(
            f"{server.url}/api/v1/timeline/export",
            headers={"Authorization": f"Bearer {token_file.read_text().strip()}",
                     "X-Stella-Tenant": "acme"},
        ).text.splitlines()  # fmt: skip
        return [
            json.loads(line)["attributes"]["origin"]["event_id"]
            for line in export
            if "origin" in json.loads(line)["attributes"]
        ]

    try:
        for _ in range(rounds):
            before = len(imported())
            process = subprocess.Popen(
                [str(BIN / "signals-offline"), "sync", *common],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Not a fixed delay (it landed in the start-up on a busy machine): the kill
            # waits for this run's first batch to arrive online, then a random moment of
            # the push that follows, so the next batch is in flight or not yet sent.
            deadline = time.monotonic() + 60
            landed = False
            while process.poll() is None and time.monotonic() < deadline:
                if len(imported()) > before:
                    landed = True
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.01))  # an event's batch takes a few ms
            alive = process.poll() is None
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            # mid-push: a batch of this run had arrived, and the kill left events unsent
            if landed and alive and len(imported()) < site_events:
                kills += 1
        done = offline("sync", *common)
        if done.returncode != 0:
            violations.append(f"final sync exited {done.returncode}: {done.stderr}")
        origins = imported()
        if len(origins) != len(set(origins)):
            violations.append("an offline event was imported twice")
        if len(set(origins)) != site_events:
            violations.append(f"{len(set(origins))} of {site_events} offline events arrived")
        online = check_state(backend.settings(work / "online"), ACME)
        violations += [f"online: {v}" for v in online.violations]
    finally:
        server.stop()
    return {
        "rounds": rounds,
        "killed_mid_sync": kills,
        "offline_events": site_events,
        "imported_once": len(set(origins)),
        "violations": violations,
    }


@contextlib.contextmanager
def deployment(name: str) -> Iterator[Backend]:
    """The deployment a standalone run works on; this process (which reads the stores to
    check them) gets the backend's credentials in its environment, like its servers."""
    if name == "embedded":
        yield Backend("embedded")
        return
    with standalone_scaleout() as backend:
        saved = {key: os.environ.get(key) for key in backend.environ}
        os.environ.update(backend.environ)
        try:
            yield backend
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backend", choices=["embedded", "postgres-s3"], default="embedded")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {"backend": args.backend}
    with deployment(args.backend) as backend, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result["server"] = server_rounds(backend, work / "server", args.rounds)
        print("server:", json.dumps(result["server"]), flush=True)
        result["offline"] = offline_rounds(work / "offline", max(3, args.rounds // 2))
        print("offline:", json.dumps(result["offline"]), flush=True)
        result["sync"] = sync_rounds(backend, work / "sync", max(3, args.rounds // 2))
        print("sync:", json.dumps(result["sync"]), flush=True)
    failed = [v for part in ("server", "offline", "sync") for v in result[part]["violations"]]
    finish(result, args.out or RESULTS / f"crash-{args.backend}.json", failed=bool(failed))


if __name__ == "__main__":
    main()
