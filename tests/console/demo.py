"""`signals serve --demo` with the demo trace ingested by the runbook's curl: the seeded
console the browser tests, `make screenshots` and the console benchmark look at."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.realservers.signals_process import SignalsProcess, free_port

#: Debian's Chromium (`make tools`); Playwright never downloads a browser here.
CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class SeededDemo:
    url: str
    data_dir: Path
    token: str
    graph_hash: str
    first_ingest: str


def curl_ingest(url: str, token: str, tenant: str, graph_hash: str, trace: Path) -> str:
    """The runbook's curl; the new ingest's id."""
    out = subprocess.run(
        [
            "curl", "-sS", "--fail-with-body", "-H", f"Authorization: Bearer {token}",
            "-H", f"X-Stella-Tenant: {tenant}", "-H", "Content-Type: application/x-ndjson",
            "--data-binary", f"@{trace}", f"{url}/api/v1/runtime-facts?graph_hash={graph_hash}",
        ],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    match = re.search(r'"ingest_id":\s*"([0-9A-Z]{26})"', out.stdout)
    if match is None:
        raise RuntimeError(f"no ingest id in {out.stdout[:500]!r}")
    return match.group(1)


@contextmanager
def seeded_demo(root: Path) -> Iterator[SeededDemo]:
    """The demo server on a free port under ``root``, its trace ingested; stopped after."""
    data = root / "data"
    server = SignalsProcess(
        ["serve", "--demo", "--data-dir", str(data)], root / "serve.log", port=free_port()
    )
    server.start()
    try:
        log = (root / "serve.log").read_text()
        found = re.search(r"graph (blake3:[0-9a-f]{64})", log)
        if found is None:
            raise RuntimeError(f"no graph hash in the demo's output:\n{log}")
        token = (data / "demo" / "token").read_text().strip()
        trace = data / "demo" / "runtime-trace.ndjson.gz"
        first = curl_ingest(server.url, token, "demo", found.group(1), trace)
        yield SeededDemo(server.url, data, token, found.group(1), first)
    finally:
        server.stop()
