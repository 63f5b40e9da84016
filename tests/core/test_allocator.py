"""`wiring.tune_allocator` (issue 19): a long-running process keeps big blocks mapped on their
own, whatever it freed before, so a large ingest's tables are grown in place and given back."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from stella_signals.wiring import tune_allocator

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="glibc only",
)

#: In a fresh interpreter: free a 16 MiB block (glibc then raises its mapping threshold to
#: 16 MiB), then allocate 6 MiB and print how many bytes that mapped (0: it came from the heap).
_PROBE = """
import ctypes, sys
from stella_signals.wiring import tune_allocator
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks"
                " fsmblks uordblks fordblks keepcost".split()]
libc.mallinfo2.restype = Info
tuned = tune_allocator() if sys.argv[1] == "tuned" else None
block = bytearray(16 << 20)
del block
before = libc.mallinfo2().hblkhd
kept = bytearray(6 << 20)
print(tuned, libc.mallinfo2().hblkhd - before)
"""


def _mapped(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUN"))}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], check=True, capture_output=True, text=True, env=env
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.e2e  # a fresh interpreter each: the allocator's state is process-wide
def test_a_big_block_stays_mapped_after_a_bigger_one_was_freed() -> None:
    untuned, tuned = _mapped("default"), _mapped("tuned")
    assert untuned == ("None", 0)  # glibc's moving threshold: from the heap
    assert tuned[0] == "True"
    assert tuned[1] >= 6 << 20


def test_the_environment_decides_when_it_sets_the_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert tune_allocator() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=1048576")
    assert tune_allocator() is False
