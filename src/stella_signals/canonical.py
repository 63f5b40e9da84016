"""RFC 8785 (JCS) canonical JSON: the only serialisation we ever hash."""

from __future__ import annotations

from typing import Any

import rfc8785

__all__ = ["canonical_json"]


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError) as exc:  # pragma: no cover - bug guard
        raise ValueError(f"value cannot be canonicalised: {exc}") from exc
