"""Disk full (issue #9, item 4): the server's data dir on a small tmpfs.

Fill the file system, post traces until one is refused, and check: the refusal is a 507
problem (`insufficient_storage`, with Retry-After), nothing of that request was kept (no
ingest row, event, fact or staged file), the server stays up and answers reads, and once
space is freed the same bytes are ingested.

Mounting needs root (``mount -t tmpfs``). ``python reliability/disk_full.py [--out FILE]``
"""

from __future__ import annotations

import contextlib
import gzip
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reliability._runner import run_in_tmp  # noqa: E402
from reliability.state import check_state  # noqa: E402
from stella_signals.tenancy import TenantId  # noqa: E402
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes  # noqa: E402
from tests.realservers.backends import Backend, issue_token  # noqa: E402
from tests.realservers.signals_process import SignalsProcess, free_port  # noqa: E402

ACME = TenantId("acme")
MiB = 1 << 20


@contextlib.contextmanager
def small_filesystem(mountpoint: Path, size_mib: int) -> Iterator[Path]:
    """A tmpfs of ``size_mib`` at ``mountpoint`` (root only); unmounted afterwards."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(mountpoint)],
        check=True,
        capture_output=True,
        text=True,
    )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def fill(path: Path, leave_bytes: int) -> Path:
    """A filler file using all but ``leave_bytes`` of the file system."""
    filler = path / "filler"
    with filler.open("wb") as handle:
        while free_bytes(path) > leave_bytes + MiB:
            handle.write(b"\0" * MiB)
            handle.flush()
        os.fsync(handle.fileno())
    return filler


def run(work: Path, size_mib: int = 64) -> dict[str, Any]:
    result: dict[str, Any] = {"filesystem_mib": size_mib, "violations": []}
    violations: list[str] = result["violations"]
    with small_filesystem(work / "mnt", size_mib) as mnt:
        data = mnt / "data"
        flags = ["--data-dir", str(data)]
        token = issue_token(Backend("embedded"), data, "acme")
        headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "acme"}
        server = SignalsProcess(["serve", *flags], work / "server.log", port=free_port())
        server.start()
        try:
            graph = httpx.post(
                f"{server.url}/api/v1/graphs",
                content=graph_bytes(SynthSpec(2000, seed=3, symbols=300, purls=20)),
                headers=headers,
            ).json()["graph_hash"]
            filler = fill(mnt, leave_bytes=6 * MiB)
            result["free_before_mib"] = round(free_bytes(mnt) / MiB, 1)
            settings = Backend("embedded").settings(data)
            refused: tuple[bytes, httpx.Response] | None = None
            accepted = 0
            for seed in range(40):
                body = gzip.compress(
                    trace_bytes(SynthSpec(40_000, seed=100 + seed, symbols=300, purls=20)), 1
                )
                before = check_state(settings, ACME)
                response = httpx.post(
                    f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
                    content=body,
                    headers=headers | {"Content-Type": "application/x-ndjson"},
                    timeout=60,
                )
                if response.status_code == 201:
                    accepted += 1
                    continue
                refused = (body, response)
                after = check_state(settings, ACME)
                if (after.ingests, after.events) != (before.ingests, before.events):
                    violations.append("the refused request left an ingest or an event")
                staged = [p for p in data.rglob("*") if p.is_file() and ".staging" in p.parts]
                if staged:
                    violations.append(f"{len(staged)} staged files left behind")
                break
            result["accepted_before_full"] = accepted
            if refused is None:
                violations.append("the disk never filled")
                return result
            body, response = refused
            result["refusal"] = {
                "status": response.status_code,
                "content_type": response.headers.get("content-type"),
                "retry_after": response.headers.get("retry-after"),
                "reason": response.json().get("reason"),
                "detail": response.json().get("detail"),
            }
            if response.status_code not in (503, 507):
                violations.append(f"refused with {response.status_code}, not 507/503")
            if not str(response.headers.get("content-type", "")).startswith(
                "application/problem+json"
            ):
                violations.append("the refusal is not a problem+json")
            alive = httpx.get(f"{server.url}/api/v1/ingests", headers=headers)
            result["reads_while_full"] = alive.status_code
            if alive.status_code != 200:
                violations.append(f"reads answered {alive.status_code} while the disk was full")
            filler.unlink()
            retry = httpx.post(
                f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
                content=body,
                headers=headers | {"Content-Type": "application/x-ndjson"},
                timeout=60,
            )
            result["after_freeing"] = retry.status_code
            if retry.status_code != 201:
                violations.append(
                    f"after freeing space the same bytes answered {retry.status_code}"
                )
            final = check_state(settings, ACME)
            result["final"] = final.to_dict()
            violations += final.violations
            if final.unreferenced_blobs:
                violations.append(f"{final.unreferenced_blobs} unreferenced blobs")
        finally:
            server.stop()
    return result


def main() -> None:
    run_in_tmp(run, "disk-full", __doc__ or "")


if __name__ == "__main__":
    main()
