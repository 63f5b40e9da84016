"""Fuzz the symbol-manifest parser, `stella_signals.symbols.parse_symbol_manifest` (SPEC §4).

Input: the manifest, uploaded by tenant ``acme``. Oracles beyond the contract:

* `check_symbol_manifest` (the report face) never raises, and agrees with the raising face;
* a valid manifest survives ``to_dict`` → JSON → parse unchanged.
"""

from __future__ import annotations

import json

from _harness import guarded, instrumented, main, require

with instrumented():
    from stella_signals.symbols import check_symbol_manifest, parse_symbol_manifest
    from stella_signals.tenancy import TenantId

MAX_LEN = 16 * 1024
TENANT = TenantId("acme")


def test_one_input(data: bytes) -> None:
    report = check_symbol_manifest(data, tenant=TENANT, max_bytes=MAX_LEN * 2)
    require(report.valid == (report.problem_count == 0), "valid disagrees with problem_count")
    require(len(report.problems) <= report.problem_count, "more problems kept than counted")
    manifest = guarded(lambda: parse_symbol_manifest(data, tenant=TENANT, max_bytes=MAX_LEN * 2))
    require((manifest is None) != report.valid, "check and parse disagree")
    if manifest is None:
        return
    text = json.dumps(manifest.to_dict(), ensure_ascii=False).encode("utf-8")
    again = parse_symbol_manifest(text, tenant=TENANT, max_bytes=len(text))
    require(again == manifest, "to_dict round trip changed the manifest")


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
