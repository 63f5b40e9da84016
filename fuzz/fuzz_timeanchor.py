"""Fuzz the signed time-anchor parser, `stella_signals.timeanchor.check_anchor` /
`verify_anchor` (SPEC §11).

Input: one control byte, then data. Bit 0 set: the data is an anchor payload, signed by the
trusted harness key (so the payload checks run behind a good signature); clear: the data is
the anchor envelope itself. Bit 1 sets ``last_counter`` to 5 (else None). Oracles beyond the
contract:

* `check_anchor` (the report face) never raises; `verify_anchor` succeeds exactly when the
  report is ok, and raises only `AnchorInvalid` (or `ReplayedAnchor`) otherwise;
* an accepted anchor's claims are what its payload states (``anchor_time`` compared as a
  moment: ``.5Z`` and ``.500000Z`` are the same time), and its counter is above the last one.
"""

from __future__ import annotations

import json
from datetime import datetime

from _harness import fuzz_key, fuzz_signer, instrumented, main, require, split_control

with instrumented():
    from stella_signals.attest import parse_envelope, sign_envelope
    from stella_signals.timeanchor import (
        ANCHOR_PAYLOAD_TYPE,
        AnchorInvalid,
        VerifiedAnchor,
        check_anchor,
        verify_anchor,
    )

MAX_LEN = 16 * 1024
SIGN, LAST_COUNTER = 1, 2


def make_input(data: bytes, *, sign: bool = False, last_counter: bool = False) -> bytes:
    """A harness input: an envelope, or (``sign``) a payload for the harness to sign."""
    return bytes([(SIGN if sign else 0) | (LAST_COUNTER if last_counter else 0)]) + data


def test_one_input(data: bytes) -> None:
    control, body = split_control(data)
    if control & SIGN:
        body = sign_envelope(body, ANCHOR_PAYLOAD_TYPE, [fuzz_signer()]).to_json()
    last_counter = 5 if control & LAST_COUNTER else None
    trusted = [fuzz_key()]
    report = check_anchor(body, trusted=trusted, last_counter=last_counter)
    require(report.ok == (report.reason is None), "ok disagrees with reason")
    verified: VerifiedAnchor | None
    try:
        verified = verify_anchor(body, trusted=trusted, last_counter=last_counter)
    except AnchorInvalid:
        verified = None
    require((verified is not None) == report.ok, "verify_anchor disagrees with check_anchor")
    if verified is None:
        return
    stated = json.loads(parse_envelope(body).payload)
    claims = verified.claims.to_dict()
    moment = datetime.fromisoformat(stated.pop("anchor_time"))
    require(moment == verified.anchor_time and claims.pop("anchor_time"), "another time")
    require(claims == stated, f"claims {claims} are not the payload's {stated}")
    require(last_counter is None or verified.counter > last_counter, "replayed anchor accepted")


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
