"""Run the synchronous pipeline in a worker thread while the body still streams in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio.from_thread
from starlette.requests import Request

from stella_signals.errors import LimitExceeded

__all__ = ["blocking_chunks", "read_body"]


def blocking_chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """Chunks of an async body stream, for code running in an anyio worker thread: each
    chunk is awaited on the event loop, so the body is never buffered whole."""
    iterator = stream.__aiter__()

    async def next_chunk() -> bytes:
        return await iterator.__anext__()

    while True:
        try:
            chunk = anyio.from_thread.run(next_chunk)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


async def read_body(request: Request, limit: int, *, limit_name: str) -> bytes:
    """A whole (small) request body, refused as soon as it passes ``limit`` bytes; for
    documents that must be held to be validated (graphs, manifests, keys, bundles)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise LimitExceeded(f"body is larger than {limit} bytes", limit=limit_name)
    return bytes(data)
