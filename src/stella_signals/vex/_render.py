"""One entry point for both formats, for callers that take the format as a value."""

from __future__ import annotations

from datetime import datetime

from stella_signals.reach import Evaluation
from stella_signals.vex._cyclonedx import render_cyclonedx
from stella_signals.vex._openvex import render_openvex
from stella_signals.vex._sign import VexFormat

__all__ = ["render_vex"]


def render_vex(
    evaluation: Evaluation, fmt: VexFormat, *, product: str, author: str, timestamp: datetime
) -> bytes:
    """`render_openvex` or `render_cyclonedx` by ``fmt`` (CycloneDX has no author field)."""
    if VexFormat(fmt) is VexFormat.OPENVEX:
        return render_openvex(evaluation, product=product, author=author, timestamp=timestamp)
    return render_cyclonedx(evaluation, product=product, timestamp=timestamp)
