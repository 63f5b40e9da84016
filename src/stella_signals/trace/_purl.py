"""Package URL checks, through packageurl-python (the reference parser), memoised.

Traces repeat a few hundred purls millions of times: each distinct string is parsed once.
"""

from __future__ import annotations

from functools import lru_cache

from packageurl import PackageURL

__all__ = ["purl_problem"]

#: `pkg:unknown` is SPEC §2's placeholder for an unresolved package; the reference parser
#: wants a name, so it is accepted literally.
UNRESOLVED_PURL = "pkg:unknown"


@lru_cache(maxsize=65536)
def purl_problem(purl: str) -> str | None:
    """None when ``purl`` is a valid package URL, else why not."""
    if purl == UNRESOLVED_PURL:
        return None
    try:
        PackageURL.from_string(purl)
    except ValueError as exc:
        return str(exc) or "not a package URL"
    return None
