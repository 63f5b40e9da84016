"""Multipart uploads: a main file part (`runtime` trace or `graph`), an optional `dsse`
envelope and, beside a trace, an optional `probe_manifest` (SPEC §14), counted and hashed as
they arrive and refused past a ceiling before the parser can spool them to disk. Each part
is named once: a part sent twice is ambiguous and refused (never first- or last-wins), like a
body without a boundary; every refusal is one of our errors, so the route records it as it
records its own."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from stella_signals.api._bridge import client_disconnected
from stella_signals.errors import InvalidField, InvalidInput, LimitExceeded
from stella_signals.timeline import FailureReason

__all__ = [
    "MAX_DSSE_BYTES",
    "MULTIPART",
    "PROBE_MANIFEST",
    "MultipartUpload",
    "file_chunks",
    "read_multipart",
]

MULTIPART = "multipart/form-data"
#: Largest DSSE envelope part.
MAX_DSSE_BYTES = 1 << 20
#: The probe manifest part (SPEC §14), accepted beside a ``runtime`` trace only.
PROBE_MANIFEST = "probe_manifest"
#: Parser caps: room for every part twice, so that a repeated part is reported as such.
_MAX_FILES, _MAX_FIELDS = 6, 3


class MultipartUpload:
    """The parts of one upload; close it when done (the parser may have spooled to disk)."""

    def __init__(
        self,
        form: FormData,
        main: BinaryIO,
        dsse: bytes | None,
        sha256: str,
        probe_manifest: bytes | None = None,
    ) -> None:
        self.form = form
        self.main = main
        self.dsse = dsse
        #: The ``probe_manifest`` part's exact bytes (only read when the caller allows it).
        self.probe_manifest = probe_manifest
        #: SHA-256 of the whole multipart body, for a Content-Digest check (RFC 9530).
        self.sha256 = sha256

    async def close(self) -> None:
        await self.form.close()


async def read_multipart(
    request: Request, *, main: str, max_bytes: int, max_manifest_bytes: int | None = None
) -> MultipartUpload:
    """The ``main`` file part and the optional ``dsse`` part of a ``multipart/form-data``
    body, and the optional ``probe_manifest`` part when ``max_manifest_bytes`` is given (an
    unknown part otherwise); `InvalidInput` (`InvalidField` naming the part or header) for a
    malformed or ambiguous body, `LimitExceeded` past the ceiling."""
    _, params = parse_options_header(request.headers.get("content-type") or "")
    if not params.get(b"boundary"):
        raise InvalidField("multipart/form-data without a boundary parameter", field="Content-Type")
    hasher = hashlib.sha256()
    received = 0
    ceiling = max_bytes + MAX_DSSE_BYTES + (max_manifest_bytes or 0) + (64 << 10)
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

    # Without "app" in its scope, Starlette raises MultiPartException itself instead of an
    # HTTPException(400) that would bypass the route's recorded refusal.
    scope = {key: value for key, value in request.scope.items() if key != "app"}
    try:
        form = await Request(scope, limited).form(
            max_files=_MAX_FILES, max_fields=_MAX_FIELDS, max_part_size=MAX_DSSE_BYTES
        )
    except MultiPartException as exc:
        raise InvalidInput(f"malformed multipart body: {exc.message}") from None
    except ClientDisconnect:
        raise client_disconnected() from None
    try:
        part, dsse = await _parts(form, main, manifest=max_manifest_bytes is not None)
        manifest = None
        if max_manifest_bytes is not None:
            manifest = await _small_part(
                form, PROBE_MANIFEST, max_manifest_bytes, "max_probe_manifest_bytes"
            )
    except BaseException:
        await form.close()
        raise
    return MultipartUpload(form, part, dsse, hasher.hexdigest(), manifest)


async def _small_part(form: FormData, name: str, limit: int, limit_name: str) -> bytes | None:
    """The exact bytes of the optional part ``name`` (a file or a field), at most ``limit``."""
    part = form.get(name)
    if part is None:
        return None
    data = await part.read(limit + 1) if isinstance(part, UploadFile) else part.encode("utf-8")
    if len(data) > limit:
        raise LimitExceeded(f"the {name} part is larger than {limit} bytes", limit=limit_name)
    return data


async def _parts(form: FormData, main: str, *, manifest: bool) -> tuple[BinaryIO, bytes | None]:
    for name in sorted(set(form.keys())):
        if len(form.getlist(name)) > 1:
            raise InvalidField(
                f"multipart part {name!r} is sent {len(form.getlist(name))} times: send it once",
                field=name,
                reason=FailureReason.AMBIGUOUS_INPUT.value,
            )
    part = form.get(main)
    if not isinstance(part, UploadFile):
        raise InvalidField(f"multipart upload needs a file part named {main!r}", field=main)
    unknown = set(form.keys()) - {main, "dsse", *([PROBE_MANIFEST] if manifest else [])}
    if unknown:
        raise InvalidInput(f"unknown multipart parts: {', '.join(sorted(unknown))}")
    return part.file, await _small_part(form, "dsse", MAX_DSSE_BYTES, "max_dsse_bytes")


def file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(1 << 20):
        yield chunk
