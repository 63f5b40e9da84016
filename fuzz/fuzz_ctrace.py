"""Fuzz the compiled trace core (`stella_signals.trace._ctrace`, ADR 0008) for memory safety.

Input: the trace harness's format (`fuzz_trace.make_input`: one control byte picking gzip,
line limit, symbol-id limit and chunk size, then the trace). Oracles: the contract (a report
or a named limit, nothing else), and the same bytes give the same report in one chunk as in
small ones (the carried partial line is the core's most delicate memory), with the trace
harness's two exceptions (the ratio limit, a corrupt gzip stream). The pure-Python oracle is
`fuzz_trace.py`'s: its fast path *is* this core whenever the core is built, compared there
with the careful path on every input; here speed buys depth instead.

`make fuzz` runs this harness on an AddressSanitizer + UBSan build of the extension
(`fuzz/build_ctrace.py`; with clang also coverage-guided by the C code): the environment
variable ``STELLA_CTRACE_SO`` names that build, loaded here in place of the installed one.
Python code is not instrumented (coverage comes from the C code): that is what makes this
harness fast. Without ``STELLA_CTRACE_SO`` (the regression replay in pytest) the installed
extension is used; as a fuzzer, without any extension the harness refuses to run rather
than fuzz the Python parser under this name.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from _harness import FUZZING, chunks, gzip_wrap, main, require, split_control


def _load_variant() -> None:
    """Put the sanitizer build of the core in the installed one's place, if one is named."""
    path = os.environ.get("STELLA_CTRACE_SO")
    if not path:
        return
    name = "stella_signals.trace._ctrace"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module


_load_variant()
if FUZZING:
    os.environ["STELLA_PURE_PYTHON"] = "0"  # this run is about the core, whatever the shell says

# Loaded before fuzz_trace, so that its instrumented() block finds the parser loaded: the
# Python code stays uninstrumented here.
importlib.import_module("stella_signals.trace")

import fuzz_trace  # noqa: E402
from fuzz_trace import GZIP, broken_gzip, limits_for, outcome  # noqa: E402

from stella_signals.trace import TraceReport, trace_core  # noqa: E402

MAX_LEN = 4 * 1024
#: The trace harness's chunk sizes but for one-byte chunks, whose cost is the Python stream
#: layer's (the same for both parsers; that harness and the property tests cover them).
CHUNK_SIZES = (3, 7, 512, MAX_LEN * 2)
make_input = fuzz_trace.make_input


def test_one_input(data: bytes) -> None:
    if FUZZING:
        require(trace_core() == "compiled", "the compiled trace core is not loaded")
    control, trace = split_control(data)
    body = gzip_wrap(trace) if control & GZIP else trace
    size = CHUNK_SIZES[(control >> 4) & 3]
    pieces = list(chunks(body, size))
    limits = limits_for(control)
    pieces_outcome = outcome(pieces, limits, fast=True)
    whole = outcome([body], limits, fast=True)
    if isinstance(whole[1], TraceReport) and isinstance(pieces_outcome[1], TraceReport):
        if broken_gzip(whole[1]) or broken_gzip(pieces_outcome[1]):
            require(not whole[1].valid and not pieces_outcome[1].valid, "corrupt gzip is valid")
            return
    if "max_compression_ratio" not in (whole[1], pieces_outcome[1]):
        require(whole == pieces_outcome, f"one chunk {whole!r} != {size}-byte chunks")


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
