"""The HTTP/1.1 connection handling of `signals serve`: uvicorn's httptools protocol, bounded.

Everything here happens before a request reaches the app, so before authentication; an
unauthenticated client must not be able to hold memory or connections without limit:

* **Request line and headers together** (``limits.max_header_bytes``, 64 KiB): the bytes are
  counted as they arrive, before the parser sees them (httptools would otherwise buffer an
  unfinished header of any size); past the limit the answer is 431 and the connection closes.
* **Number of header fields** (``limits.max_headers``): 431 as well.
* **Slow clients**: the request line and headers must arrive within
  ``server.header_timeout_seconds`` of the connection (or of the previous response); a
  request body may not stall for more than ``server.body_timeout_seconds`` (time the server
  itself paused reading does not count); idle keep-alive connections close after
  ``server.keep_alive_seconds``. A client cut off mid-headers gets 408; mid-body the
  connection just closes and the app sees the client disconnect.
* **Concurrent connections** (``server.max_connections``): one more is answered 503 with
  ``Retry-After`` and closed at once.

Refusals are RFC 9457 problems, built by the same function as the app's, with
``Connection: close``. A request that arrives pipelined behind another in one read is counted
from the bytes read after the previous request ended, so it may exceed the header limit by at
most one read (256 KiB) before it is refused.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from stella_signals.api._problems import problem
from stella_signals.errors import InvalidInput
from stella_signals.wiring import Settings

__all__ = ["ServerBounds", "bounded_protocol", "uvicorn_options"]

_log = logging.getLogger(__name__)
#: How long a refused connection's late bytes are read and dropped before it closes.
_LINGER_SECONDS = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerBounds:
    """What one server process accepts from clients before the app sees a request."""

    max_header_bytes: int
    max_headers: int
    header_timeout_seconds: float
    body_timeout_seconds: float
    keep_alive_seconds: float
    max_connections: int

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"ServerBounds.{name} must be a positive number, got {value!r}")


class _TooManyHeaders(Exception):
    """Raised from the parser callback; the parser turns it into an error we answer 431."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with the bounds of `ServerBounds` (see the module docstring)."""

    bounds: ClassVar[ServerBounds]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        #: Reading a request line and headers (True until they are complete).
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._too_many_headers = False
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # -- connection ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.bounds.max_connections:
            _log.warning("refused a connection: %d open", len(self.connections) - 1)
            self._refuse(
                503, "Service Unavailable", "too many connections; retry later",
                reason="too_many_connections", retry_after=1,
            )  # fmt: skip
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel(head=True, body=True)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: dropped, never buffered
        while data and not self._refused and not self.transport.is_closing():
            if self._in_head:
                allowance = self.bounds.max_header_bytes - self._head_bytes
                if allowance <= 0:
                    self._refuse_headers(
                        f"request line and headers exceed {self.bounds.max_header_bytes} bytes"
                    )
                    return
                piece, data = data[:allowance], data[allowance:]
                self._head_bytes += len(piece)
            else:
                piece, data = data, b""
                if self._body_timer is not None:
                    self._arm_body_timer()
            super().data_received(piece)

    def send_400_response(self, msg: str) -> None:
        if self._too_many_headers:
            self._refuse_headers(f"more than {self.bounds.max_headers} header fields")
        else:
            super().send_400_response(msg)

    # -- parser callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.bounds.max_headers:
            self._too_many_headers = True
            raise _TooManyHeaders
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel(head=True)
        self._arm_body_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel(body=True)
        self._in_head = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline and self._in_head:
            self._arm_head_timer()  # waiting for the next request on this connection

    # -- timers ----------------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        self._cancel(head=True)
        self._head_timer = self.loop.call_later(
            self.bounds.header_timeout_seconds, self._head_timed_out
        )

    def _arm_body_timer(self) -> None:
        self._cancel(body=True)
        self._body_timer = self.loop.call_later(
            self.bounds.body_timeout_seconds, self._body_timed_out
        )

    def _cancel(self, *, head: bool = False, body: bool = False) -> None:
        if head and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if body and self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._head_bytes == 0 and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()  # an idle connection: nothing to answer
            return
        self._refuse(
            408, "Request Timeout",
            f"request line and headers not received within "
            f"{self.bounds.header_timeout_seconds:g} s",
            reason="header_timeout",
        )  # fmt: skip

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:  # we stopped reading (the app is busy): not the client
            self._arm_body_timer()
            return
        _log.info("closed a connection whose request body stalled")
        self.transport.close()  # the app sees the client disconnect

    # -- refusals --------------------------------------------------------------------------
    def _refuse_headers(self, detail: str) -> None:
        self._refuse(431, "Request Header Fields Too Large", detail, reason="headers_too_large")

    def _refuse(
        self, status: int, title: str, detail: str, *, reason: str, retry_after: int | None = None
    ) -> None:
        """Answer ``status`` with a problem body and close the connection."""
        self._refused = True
        self._cancel(head=True, body=True)
        response = problem(status, title, detail, reason=reason)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: ", response.media_type.encode("ascii"), b"\r\n",
            b"content-length: ", str(len(response.body)).encode("ascii"), b"\r\n",
            b"connection: close\r\n",
        ]  # fmt: skip
        if retry_after is not None:
            head += [b"retry-after: ", str(retry_after).encode("ascii"), b"\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", bytes(response.body)]))
        # A lingering close: closing with unread bytes would make the kernel reset the
        # connection, and a client still sending would lose the answer. Stop sending, read
        # and drop what still comes for a moment, then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(_LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def bounded_protocol(bounds: ServerBounds) -> type[BoundedHttpToolsProtocol]:
    """The protocol class to give uvicorn as ``http=`` for these bounds."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"bounds": bounds})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` that apply the bounds of ``settings``."""
    try:
        bounds = ServerBounds(
            max_header_bytes=settings.limits.max_header_bytes,
            max_headers=settings.limits.max_headers,
            header_timeout_seconds=settings.header_timeout_seconds,
            body_timeout_seconds=settings.body_timeout_seconds,
            keep_alive_seconds=settings.keep_alive_seconds,
            max_connections=settings.max_connections,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), reason="config_invalid") from None
    return {"http": bounded_protocol(bounds), "timeout_keep_alive": settings.keep_alive_seconds}
