"""Fuzz the air-gap bundle ``manifest.json`` parser, `stella_signals.bundle.parse_manifest`
(SPEC §10).

Input: the manifest. Oracles beyond the contract: every listed path is a plain relative path
that `entry_for` finds (or refuses as ambiguous: two entries with one base name), and a
manifest re-encoded from what was parsed parses back equal.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import PurePosixPath

from _harness import guarded, instrumented, main, require

with instrumented():
    from stella_signals.bundle import MANIFEST_SCHEMA, parse_manifest

MAX_LEN = 16 * 1024


def test_one_input(data: bytes) -> None:
    manifest = guarded(lambda: parse_manifest(data))
    if manifest is None:
        return
    for entry in manifest.files:
        pure = PurePosixPath(entry.path)
        require(not pure.is_absolute() and ".." not in pure.parts, f"unsafe {entry.path!r}")
        found = guarded(partial(manifest.entry_for, entry.path))  # None: a shared base name
        require(found is None or found == entry, f"entry_for({entry.path!r}) found {found}")
    document = {
        "schema": MANIFEST_SCHEMA,
        "tenant": manifest.tenant,
        "graph_hash": manifest.graph_hash,
        "generated_at": manifest.generated_at,
        "files": [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in manifest.files],
    }
    again = parse_manifest(json.dumps(document).encode())
    require(again == manifest, "re-encoded manifest parses differently")


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
