"""Tenant ids. Every store and service call takes one explicitly; there is no ambient tenant."""

from __future__ import annotations

import re
from typing import NewType

from stella_signals.errors import InvalidTenant

__all__ = ["TenantId", "parse_tenant"]

#: A validated tenant id (SPEC §1): 1-63 chars of lowercase letters, digits and ``-``,
#: starting with a letter or digit. Safe as a path segment and an object-key segment.
TenantId = NewType("TenantId", str)

_TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def parse_tenant(text: str) -> TenantId:
    if not isinstance(text, str) or not _TENANT.fullmatch(text):
        raise InvalidTenant(
            f"invalid tenant id {text!r}: 1-63 of a-z 0-9 -, starting with a letter or digit"
        )
    return TenantId(text)
