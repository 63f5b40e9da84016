"""What every fuzz harness shares: the contract, instrumentation, input decoding, the run.

The contract of a harness: any input bytes make the parser under test either return a result
or raise one of the project's named errors (`stella_signals.errors.StellaError` and its
subclasses: `InvalidGraph`, `InvalidSymbolManifest`, `InvalidEnvelope`, `InvalidManifest`,
`LimitExceeded`, `AnchorInvalid`...). Anything else escaping a parser (``KeyError``,
``TypeError``, ``RecursionError``, ``UnicodeDecodeError``...) is a bug and reaches libFuzzer
as a crash; so does a broken extra oracle (`ContractViolation`). Hangs are libFuzzer's
``-timeout``.

Harnesses import the project inside `instrumented()`, so coverage guidance covers
``stella_signals`` only (the slow part under atheris is Python-level instrumentation). When a
harness module is merely imported (regression replay in pytest, `make_corpus.py`), nothing is
instrumented and `main` is never called.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import atheris

if TYPE_CHECKING:
    from stella_signals.attest import PublicKey, Signer

__all__ = [
    "FUZZING",
    "ContractViolation",
    "chunks",
    "fuzz_key",
    "fuzz_signer",
    "guarded",
    "gzip_wrap",
    "instrumented",
    "load_variant",
    "main",
    "require",
    "split_control",
]

T = TypeVar("T")

#: True when a harness runs as the fuzzer (``python fuzz/fuzz_<name>.py ...``).
FUZZING = Path(sys.argv[0]).name.startswith("fuzz_") if sys.argv else False


class ContractViolation(AssertionError):
    """An extra oracle failed: the parser returned, but something it promises does not hold."""


def instrumented(*also: str) -> AbstractContextManager[object]:
    """Instrument ``stella_signals`` modules (and ``also``) imported inside the block, when
    fuzzing."""
    if FUZZING:
        return atheris.instrument_imports(include=["stella_signals", *also])
    return contextlib.nullcontext()


def guarded(call: Callable[[], T]) -> T | None:
    """``call()``, or None when it raises a named project error; anything else propagates."""
    from stella_signals.errors import StellaError

    try:
        return call()
    except StellaError:
        return None


def load_variant(variable: str, name: str) -> None:
    """Put the sanitizer build of extension module ``name`` in the installed one's place, when
    the environment variable ``variable`` names one (`fuzz/build_ctrace.py`'s output)."""
    path = os.environ.get(variable)
    if not path:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module


def require(condition: bool, message: str) -> None:
    """An oracle that survives ``python -O`` (unlike ``assert``)."""
    if not condition:
        raise ContractViolation(message)


def split_control(data: bytes) -> tuple[int, bytes]:
    """The first byte chooses how the harness uses the rest (0 for empty input)."""
    return (data[0], data[1:]) if data else (0, b"")


def gzip_wrap(data: bytes) -> bytes:
    """``data`` as one gzip member, fast and deterministic (mtime 0)."""
    return gzip.compress(data, compresslevel=1, mtime=0)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` cut into ``size``-byte pieces, as a stream reader would deliver it."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


@cache
def fuzz_signer() -> Signer:
    """A fixed Ed25519 key (private bytes 0x01 * 32): deterministic seeds and replays."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from stella_signals.attest import load_signer

    key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return load_signer(pem)


def fuzz_key() -> PublicKey:
    """The public half of `fuzz_signer`, the one key the harnesses trust."""
    return fuzz_signer().public_key


def main(test_one_input: Callable[[bytes], None], *, max_len: int) -> None:
    """Run libFuzzer on ``test_one_input`` with this process's flags (``-max_len`` defaulted)."""
    argv = list(sys.argv)
    if not any(arg.startswith("-max_len=") for arg in argv[1:]):
        argv.append(f"-max_len={max_len}")
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
