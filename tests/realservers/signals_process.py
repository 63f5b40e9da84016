"""Real `signals` processes (serve, worker) on a deployment, for tests that need them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tests.realservers.backends import Backend

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def signals(
    *args: str, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one `signals` command to completion."""
    return subprocess.run(
        [str(BIN / "signals"), *args],
        check=check,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def create_token(
    tenant: str, *deployment: str, scopes: Sequence[str] = ("signals:read", "signals:write"),
    env: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
    out = signals("tokens", "create", "--tenant", tenant, *scope_args, *deployment, env=env)
    return out.stdout.strip().splitlines()[-1]


@dataclass
class SignalsProcess:
    """``signals serve`` (with a port) or ``signals worker`` (without)."""

    command: list[str]
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60) -> None:
        """Start it; a server answers /readyz before this returns. A port `free_port` chose
        can be taken by any other process (an outgoing connection's ephemeral port, another
        worker's server) before the server binds it: then the server exits with EADDRINUSE
        and is started again on another free port (``url`` follows), twice at the most."""
        for attempt in range(3):
            offset = self.log.stat().st_size if self.log.exists() else 0
            try:
                self._start_once(timeout)
                return
            except RuntimeError:
                lost_port = b"address already in use" in self.log.read_bytes()[offset:]
                if self.port is None or not lost_port or attempt == 2:
                    raise
                self.port = free_port()

    def _start_once(self, timeout: float) -> None:
        argv = [str(BIN / "signals"), *self.command]
        if self.port is not None:
            argv += ["--port", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=log, env={**os.environ, **self.env}
            )
        if self.port is None:
            return
        # One client for the whole wait: each `httpx.get` builds a client and its TLS
        # context (about 25 ms of CPU), which made a 0.1 s poll cost a fifth of a CPU.
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{argv} exited: {self.log.read_text()[-2000:]}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"{argv} did not become ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def serve_with_token(
    backend: Backend,
    data_dir: Path,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    tenant: str = "acme",
) -> tuple[SignalsProcess, dict[str, str]]:
    """A started `signals serve` on a deployment, and request headers for a read+write
    token of ``tenant`` on it. The token is stored from this process as `signals tokens
    create` stores it (`issue_token`: no console-script start-up per server;
    tests/cli/test_tokens_lifecycle.py covers the command). ``env`` adds to the backend's."""
    from tests.realservers.backends import issue_token

    token = issue_token(backend, data_dir, tenant)
    server = SignalsProcess(
        ["serve", "--data-dir", str(data_dir), *backend.flags()],
        log,
        env={**backend.environ, **(env or {})},
        port=free_port(),
    )
    server.start()
    return server, {"Authorization": f"Bearer {token}", "X-Stella-Tenant": tenant}
