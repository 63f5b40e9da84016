"""Multipart uploads: a main file part (`runtime` trace or `graph`) and an optional `dsse`
envelope, counted and hashed as they arrive and refused past a ceiling before the parser
can spool them to disk."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from stella_signals.errors import InvalidInput, LimitExceeded

__all__ = ["MAX_DSSE_BYTES", "MULTIPART", "MultipartUpload", "file_chunks", "read_multipart"]

MULTIPART = "multipart/form-data"
#: Largest DSSE envelope part.
MAX_DSSE_BYTES = 1 << 20


class MultipartUpload:
    """The parts of one upload; close it when done (the parser may have spooled to disk)."""

    def __init__(self, form: FormData, main: BinaryIO, dsse: bytes | None, sha256: str) -> None:
        self.form = form
        self.main = main
        self.dsse = dsse
        #: SHA-256 of the whole multipart body, for a Content-Digest check (RFC 9530).
        self.sha256 = sha256

    async def close(self) -> None:
        await self.form.close()


async def read_multipart(request: Request, *, main: str, max_bytes: int) -> MultipartUpload:
    hasher = hashlib.sha256()
    received = 0
    ceiling = max_bytes + MAX_DSSE_BYTES + (64 << 10)
    receive = request.receive

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > ceiling:
                raise LimitExceeded(
                    f"multipart body is larger than {ceiling} bytes", limit="max_compressed_bytes"
                )
            hasher.update(chunk)
        return message

    try:
        form = await Request(request.scope, limited).form(
            max_files=2, max_fields=1, max_part_size=MAX_DSSE_BYTES
        )
    except MultiPartException as exc:
        raise InvalidInput(f"malformed multipart body: {exc.message}") from None
    try:
        part, dsse = await _parts(form, main)
    except BaseException:
        await form.close()
        raise
    return MultipartUpload(form, part, dsse, hasher.hexdigest())


async def _parts(form: FormData, main: str) -> tuple[BinaryIO, bytes | None]:
    part = form.get(main)
    if not isinstance(part, UploadFile):
        raise InvalidInput(f"multipart upload needs a file part named {main!r}")
    dsse_part = form.get("dsse")
    dsse: bytes | None
    if dsse_part is None:
        dsse = None
    elif isinstance(dsse_part, UploadFile):
        dsse = await dsse_part.read(MAX_DSSE_BYTES + 1)
        if len(dsse) > MAX_DSSE_BYTES:
            raise LimitExceeded("the dsse part is larger than 1 MiB", limit="max_dsse_bytes")
    else:
        dsse = dsse_part.encode("utf-8")
    unknown = set(form.keys()) - {main, "dsse"}
    if unknown:
        raise InvalidInput(f"unknown multipart parts: {', '.join(sorted(unknown))}")
    return part.file, dsse


def file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(1 << 20):
        yield chunk
