"""Shipping a window: its SPEC §2 trace (gzip NDJSON) and its ``probe-manifest.json`` written
atomically into one directory per window, and the optional upload to the Signals API from a
background thread that retries with back-off and never blocks the application."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import queue
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable

__all__ = ["DSSE", "MANIFEST", "TRACE", "Uploader", "write_window"]

TRACE = "runtime-trace.ndjson.gz"
MANIFEST = "probe-manifest.json"
RECEIPT = "receipt.json"
UPLOAD_ERROR = "upload-error.json"
#: The window's DSSE envelope (``--sign-key``), as ``stella attest runtime`` writes it.
DSSE = "runtime.dsse.json"


def write_window(
    out: str,
    name: str,
    records: list[dict[str, Any]],
    manifest: dict[str, Any],
    *,
    sign: Callable[[str, str, list[dict[str, Any]]], bytes] | None = None,
) -> str:
    """Write ``out/name/{runtime-trace.ndjson.gz, probe-manifest.json}`` and, when ``sign``
    returns an envelope for the trace (file name, SHA-256, records), ``runtime.dsse.json``: all
    are written and fsynced in a hidden directory that is then renamed, so a reader sees a
    whole window or none. A window without records has no trace (SPEC §2: an empty trace is
    invalid) and its manifest says ``trace_sha256: null``. Raises OSError, or whatever ``sign``
    raises (the caller counts the window dropped).
    """
    os.makedirs(out, exist_ok=True)
    final = os.path.join(out, name)
    staging = os.path.join(out, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    os.mkdir(staging)
    try:
        if records:
            lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            data = gzip.compress(lines.encode("utf-8"), mtime=0)
            manifest["trace_sha256"] = hashlib.sha256(data).hexdigest()
            _write(os.path.join(staging, TRACE), data)
            envelope = sign(TRACE, manifest["trace_sha256"], records) if sign else b""
            if envelope:
                _write(os.path.join(staging, DSSE), envelope)
        else:
            manifest["trace_sha256"] = None
        body = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        _write(os.path.join(staging, MANIFEST), body)
        _fsync_dir(staging)
        os.rename(staging, final)
        _fsync_dir(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Uploader:
    """POSTs each written window (parts ``runtime``, ``probe_manifest`` and, when signed,
    ``dsse``) to
    ``/api/v1/runtime-facts``; keeps the receipt beside the files (``receipt.json``). Transient
    failures (connection, 408, 429, 5xx) are retried with exponential back-off; a window that
    still fails, or is refused (other 4xx, kept as ``upload-error.json``), or finds the queue
    full, is dropped and counted through ``on_drop``."""

    def __init__(
        self,
        server: str,
        tenant: str,
        token_file: str,
        graph_hash: str,
        *,
        retries: int,
        backoff: float,
        on_drop: Callable[[], None],
        capacity: int = 32,
    ) -> None:
        self.url = server.rstrip("/") + "/api/v1/runtime-facts"
        if graph_hash:
            self.url += "?" + urllib.parse.urlencode({"graph_hash": graph_hash})
        self.tenant = tenant
        self.token_file = token_file
        self.retries = retries
        self.backoff = backoff
        self.on_drop = on_drop
        self.queue: queue.Queue[str] = queue.Queue(capacity)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="stella-probe-upload", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, window_dir: str) -> None:
        try:
            self.queue.put_nowait(window_dir)
        except queue.Full:
            self.on_drop()

    def drain(self, timeout: float) -> None:
        """At exit: give queued uploads up to ``timeout`` seconds, then give up on them."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stopping.set()

    def _run(self) -> None:
        while True:
            window_dir = self.queue.get()
            try:
                if not self._upload(window_dir):
                    self.on_drop()
            except Exception:
                self.on_drop()
            finally:
                self.queue.task_done()

    def _upload(self, window_dir: str) -> bool:
        trace_path = os.path.join(window_dir, TRACE)
        if not os.path.exists(trace_path):
            return True  # nothing ran that the probe watched: only the manifest, kept on disk
        with open(trace_path, "rb") as handle:
            trace = handle.read()
        with open(os.path.join(window_dir, MANIFEST), "rb") as handle:
            manifest = handle.read()
        with open(self.token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
        sent = [
            ("runtime", TRACE, "application/gzip", trace),
            ("probe_manifest", MANIFEST, "application/json", manifest),
        ]
        dsse_path = os.path.join(window_dir, DSSE)
        if os.path.exists(dsse_path):
            with open(dsse_path, "rb") as handle:
                sent.append(("dsse", DSSE, "application/json", handle.read()))
        boundary = "stella-probe-" + uuid.uuid4().hex
        body = _multipart(boundary, sent)
        for attempt in range(self.retries + 1):
            if attempt:
                if self.stopping.wait(self.backoff * 2 ** (attempt - 1)):
                    return False
            request = urllib.request.Request(  # noqa: S310 - the operator names the server
                self.url,
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Stella-Tenant": self.tenant,
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    _save(os.path.join(window_dir, RECEIPT), response.read())
                    return True
            except urllib.error.HTTPError as exc:
                if exc.code in (408, 429) or exc.code >= 500:
                    continue
                _save(os.path.join(window_dir, UPLOAD_ERROR), exc.read())
                return False
            except (OSError, ValueError):
                continue
        return False


def _multipart(boundary: str, parts: list[tuple[str, str, str, bytes]]) -> bytes:
    out = bytearray()
    for name, filename, content_type, data in parts:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode("ascii")
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode("ascii")
    return bytes(out)


def _save(path: str, data: bytes) -> None:
    staging = path + ".tmp"
    _write(staging, data)
    os.rename(staging, path)
