"""Numbers the wire formats share."""

from __future__ import annotations

__all__ = ["MAX_SAFE_INTEGER"]

#: The largest integer every JSON implementation holds exactly (an IEEE 754 double's 2^53-1):
#: counts, sequence numbers and counters on the wire stay within ±MAX_SAFE_INTEGER.
MAX_SAFE_INTEGER = 2**53 - 1
