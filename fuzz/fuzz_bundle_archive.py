"""Fuzz the air-gap ``.tar.gz`` bundle reader, `stella_signals.bundle.read_bundle_archive`
(SPEC §10), and the manifest found inside.

Input: one control byte, then data. Odd control: the data is a tar archive, gzip-wrapped by
the harness (mutating a tar is how the fuzzer reaches tarfile; a mutated gzip stream mostly
fails its CRC). Even control: the data is handed over as it is. Oracles beyond the contract:
at most 64 entries, every name a plain relative path.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from _harness import guarded, gzip_wrap, instrumented, main, require, split_control

with instrumented("tarfile"):  # guidance inside tarfile too: it is what reads the archive
    from stella_signals.bundle import parse_manifest, read_bundle_archive

MAX_LEN = 16 * 1024
WRAP = 1
MAX_BYTES = 1 << 20


def make_input(data: bytes, *, wrap: bool = False) -> bytes:
    """A harness input: a ``.tar.gz``, or (``wrap``) a tar for the harness to gzip."""
    return bytes([WRAP if wrap else 0]) + data


def test_one_input(data: bytes) -> None:
    control, body = split_control(data)
    blob = gzip_wrap(body) if control & WRAP else body
    files = guarded(lambda: read_bundle_archive(blob, max_bytes=MAX_BYTES))
    if files is None:
        return
    require(len(files) <= 64, f"{len(files)} entries")
    for name in files:
        pure = PurePosixPath(name)
        require(bool(name) and not pure.is_absolute() and ".." not in pure.parts, repr(name))
    if "manifest.json" in files:
        guarded(lambda: parse_manifest(files["manifest.json"]))


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
