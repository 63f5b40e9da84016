"""Run the synchronous pipeline in a worker thread while the body still streams in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio.from_thread

__all__ = ["blocking_chunks"]


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
