"""Opaque page tokens (SPEC §6: ``page_size`` default 50, max 500; ``page_token``)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.responses import JSONResponse

from stella_signals.errors import InvalidInput
from stella_signals.ids import parse_ulid

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "decode_token",
    "encode_token",
    "json_page",
    "page_size",
    "ulid_token",
]

R = TypeVar("R")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def encode_token(position: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{position}".encode()).rstrip(b"=").decode()


def decode_token(token: str | None, *, max_chars: int = 64) -> str | None:
    """The position a token names (at most ``max_chars`` characters: ids are short, pairs
    of symbol ids less so); `InvalidInput` for anything else."""
    if token is None:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput("malformed page_token", reason="invalid_page_token") from None
    version, sep, position = text.partition(":")
    if version != "v1" or not sep or not position or len(position) > max_chars:
        raise InvalidInput("malformed page_token", reason="invalid_page_token")
    return position


def ulid_token(token: str | None) -> str | None:
    """The id a page token of a list ordered by id names; `InvalidInput`
    (``invalid_page_token``) for a malformed token, a position that is not a ULID included:
    the client never writes the position, so the token is what is wrong, as on every list."""
    position = decode_token(token)
    if position is None:
        return None
    try:
        return parse_ulid(position)
    except InvalidInput:
        raise InvalidInput("malformed page_token", reason="invalid_page_token") from None


def page_size(value: int | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page_size must be 1..{MAX_PAGE_SIZE}", reason="invalid_page_size")
    return value


def json_page(
    rows: Sequence[R], size: int, item: Callable[[R], Any], position: Callable[[R], str]
) -> JSONResponse:
    """A page (SPEC §6) from the ``size + 1`` rows a route fetched: the first ``size`` as
    ``items``, and a ``next_page_token`` naming the last one's ``position`` when there were
    more (None on the last page)."""
    shown = rows[:size]
    token = encode_token(position(shown[-1])) if len(rows) > size else None
    return JSONResponse({"items": [item(row) for row in shown], "next_page_token": token})
