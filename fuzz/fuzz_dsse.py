"""Fuzz the DSSE envelope parser and verifier (`stella_signals.attest`, SPEC §5).

Input: one control byte, then data. Even control: the data is an envelope for
`parse_envelope`. Odd control: the data is a payload, signed by the harness key (so the
statement parser behind a good signature is reached too). Oracles beyond the contract:

* a parsed envelope round-trips its JSON (``to_json`` parses back equal, byte-stable);
* `check_envelope` and `check_runtime_attestation` (report faces) never raise, and
  `verify_envelope` succeeds exactly when `check_envelope` says ok;
* an envelope the harness signed itself verifies.
"""

from __future__ import annotations

from _harness import fuzz_key, fuzz_signer, guarded, instrumented, main, require, split_control

with instrumented():
    from stella_signals.attest import (
        IN_TOTO_PAYLOAD_TYPE,
        Envelope,
        check_envelope,
        check_runtime_attestation,
        parse_envelope,
        parse_statement,
        sign_envelope,
        verify_envelope,
    )

MAX_LEN = 16 * 1024
SIGN = 1
TRACE_SHA256 = "0" * 64


def make_input(data: bytes, *, sign: bool = False) -> bytes:
    """A harness input: an envelope, or (``sign``) a payload for the harness to sign."""
    return bytes([SIGN if sign else 0]) + data


def test_one_input(data: bytes) -> None:
    control, body = split_control(data)
    if control & SIGN:
        body = sign_envelope(body, IN_TOTO_PAYLOAD_TYPE, [fuzz_signer()]).to_json()
    envelope: Envelope | None = guarded(lambda: parse_envelope(body))
    require(envelope is not None or not control & SIGN, "an envelope we signed did not parse")
    if envelope is None:
        return
    encoded = envelope.to_json()
    again = parse_envelope(encoded)
    require(again == envelope, "envelope JSON round trip changed the envelope")
    require(again.to_json() == encoded, "envelope JSON is not byte-stable")
    trusted = [fuzz_key()]
    report = check_envelope(envelope, trusted=trusted, payload_type=IN_TOTO_PAYLOAD_TYPE)
    require(report.ok or not control & SIGN, "an envelope we signed did not verify")
    verified = guarded(
        lambda: verify_envelope(envelope, trusted=trusted, payload_type=IN_TOTO_PAYLOAD_TYPE)
    )
    require((verified is not None) == report.ok, "verify_envelope disagrees with check_envelope")
    check_runtime_attestation(
        envelope, trusted=trusted, threshold=1, trace_sha256=TRACE_SHA256, tenant="acme"
    )
    guarded(lambda: parse_statement(envelope.payload))


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
