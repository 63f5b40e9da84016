"""Run the synchronous pipeline in a worker thread while the body still streams in; and the
one place where Starlette's `ClientDisconnect` becomes an error of ours."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import anyio.from_thread
import msgspec
from starlette.requests import ClientDisconnect, Request

from stella_signals.errors import InvalidInput, LimitExceeded
from stella_signals.timeline import FailureReason

__all__ = [
    "SMALL_BODY_BYTES",
    "blocking_chunks",
    "buffered_chunks",
    "client_disconnected",
    "read_body",
    "read_json_body",
]

T = TypeVar("T")

#: A body declared at most this long is read whole on the event loop (`buffered_chunks`).
SMALL_BODY_BYTES = 256 * 1024


def client_disconnected() -> InvalidInput:
    """The error for a client that went away before its body ended (``http.disconnect``):
    the pipeline records it like any refusal (reason ``client_disconnected``), although
    nobody is left to read the answer."""
    return InvalidInput(
        "the client disconnected before the end of the request body",
        reason=FailureReason.CLIENT_DISCONNECTED.value,
    )


def blocking_chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """Chunks of an async body stream, for code running in an anyio worker thread: each
    chunk is awaited on the event loop, so the body is never buffered whole."""
    iterator = stream.__aiter__()

    async def next_chunk() -> bytes:
        try:
            return await iterator.__anext__()
        except ClientDisconnect:
            raise client_disconnected() from None

    while True:
        try:
            chunk = anyio.from_thread.run(next_chunk)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


async def buffered_chunks(request: Request) -> Iterator[bytes]:
    """The body of a small request (its ``Content-Length`` at most `SMALL_BODY_BYTES`; the
    server holds the body to it), read on the event loop and handed over as chunks: one
    switch to the pipeline's worker thread instead of two per chunk (`blocking_chunks`). A
    client that went away mid-body is raised to whoever iterates the chunks, as with
    `blocking_chunks`, so the pipeline records it the same way."""
    chunks: list[bytes] = []
    try:
        async for chunk in request.stream():
            if chunk:
                chunks.append(chunk)
    except ClientDisconnect:
        return _then_disconnected(chunks)
    return iter(chunks)


def _then_disconnected(chunks: list[bytes]) -> Iterator[bytes]:
    yield from chunks
    raise client_disconnected()


async def read_body(request: Request, limit: int, *, limit_name: str) -> bytes:
    """A whole (small) request body, refused as soon as it passes ``limit`` bytes; for
    documents that must be held to be validated (graphs, manifests, keys, bundles)."""
    data = bytearray()
    try:
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise LimitExceeded(f"body is larger than {limit} bytes", limit=limit_name)
    except ClientDisconnect:
        raise client_disconnected() from None
    return bytes(data)


async def read_json_body(
    request: Request, kind: type[T], limit: int, *, limit_name: str, what: str
) -> T:
    """A small JSON request body (`read_body`) decoded as ``kind``; `InvalidInput`
    ``"{what}: {why}"`` when it is not JSON of that shape."""
    data = await read_body(request, limit, limit_name=limit_name)
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what}: {exc}") from None
