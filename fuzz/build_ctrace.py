"""Build the AddressSanitizer + UBSan variant of the trace core for `make fuzz`.

    .venv/bin/python fuzz/build_ctrace.py

Writes ``fuzz/results/ctrace-asan/_ctrace<EXT_SUFFIX>`` and ``env.json``, the environment
`fuzz/run.py` gives the ``ctrace`` harness: ``STELLA_CTRACE_SO`` (the build), ``LD_PRELOAD``
(the sanitizer runtime, which must come first in a Python that was not built with it) and
the sanitizer options. With clang the build is also instrumented for libFuzzer's coverage
(``-fsanitize=fuzzer-no-link``) and preloads atheris's ``asan_with_fuzzer.so``, as atheris
documents for native extensions; UBSan then traps (``-fsanitize-trap``: no second runtime).
With gcc only: ASan + UBSan from gcc's runtimes, and no C coverage guidance (libFuzzer then
mutates blind, fast but shallow: install clang, e.g. Debian's ``clang-14``, for real runs).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "src" / "stella_signals" / "trace" / "_ctrace.c"
OUT = REPO / "fuzz" / "results" / "ctrace-asan"
COMMON = ["-O1", "-g", "-fPIC", "-std=gnu11", "-pthread", "-fno-omit-frame-pointer"]
SANITIZER_OPTIONS = {
    # CPython frees little at exit: leak reports would be noise, not findings.
    "ASAN_OPTIONS": "detect_leaks=0:allocator_may_return_null=1:abort_on_error=0",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    "PYTHONMALLOC": "malloc",  # every Python allocation through ASan's malloc too
}


def _output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def build(
    source: Path = SOURCE, out: Path = OUT, variable: str = "STELLA_CTRACE_SO"
) -> dict[str, str]:
    """Build ``source`` (an extension module) so into ``out``; ``variable`` names the build in
    the environment written to ``out/env.json`` (`fuzz/build_cgraph.py` builds the graph core
    this way)."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / (source.stem + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    include = sysconfig.get_paths()["include"]
    clang = shutil.which("clang") or shutil.which("clang-14")
    if clang:
        flags = [
            "-fsanitize=address,undefined,fuzzer-no-link",
            "-fsanitize-trap=undefined",
            "-fno-sanitize-recover=all",
        ]
        compiler = clang
        preload = [str(Path(atheris.path()) / "asan_with_fuzzer.so")]
        kind = "clang: ASan + UBSan (trapping) + libFuzzer coverage"
    else:
        compiler = shutil.which("gcc") or "cc"
        flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
        preload = [
            _output([compiler, "-print-file-name=libasan.so"]),
            _output([compiler, "-print-file-name=libubsan.so"]),
        ]
        kind = "gcc: ASan + UBSan (no C coverage guidance)"
    # Compile instrumented, link plain: the sanitizer runtime comes from LD_PRELOAD, so the
    # extension needs no runtime archive of its own (Debian's clang ships none).
    obj = target.with_suffix(".o")
    compile_ = [compiler, *COMMON, *flags, f"-I{include}", "-c", str(source), "-o", str(obj)]
    subprocess.run(compile_, check=True)
    subprocess.run([compiler, "-shared", str(obj), "-o", str(target)], check=True)
    env = {
        variable: str(target),
        "LD_PRELOAD": " ".join(preload),
        variable.removesuffix("_SO") + "_BUILD": kind,
        **SANITIZER_OPTIONS,
    }
    (out / "env.json").write_text(json.dumps(env, indent=2) + "\n")
    return env


if __name__ == "__main__":
    print(json.dumps(build(), indent=2))
    sys.exit(0)
