"""The unit tier starts no Python interpreter and no console script (docs/testing.md): a
unit test that starts one fails.

An interpreter (``python -c``, ``python -m stella_probe``, ``python -m venv``) or a console
script (`stella`, `signals`, `signals-offline`) costs tenths of a second to seconds of CPU
each time it starts; the unit tier must stay under a minute on two CPUs, so a test that
starts them belongs to the e2e tier (``@pytest.mark.e2e``), which `make test` runs alongside.
Small tools used as independent witnesses (``sha256sum``, ``gzip``, ``tar``, ``git``,
``make -n``, ``promtool``) start in milliseconds and stay allowed, and so do the product's own
worker processes (``fork``, e.g. the scanner's first pass), which `subprocess` does not start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Programs a unit test may not start: interpreters and the project's console scripts.
INTERPRETER = re.compile(r"python[0-9.]*")
CONSOLE_SCRIPTS = frozenset({"stella", "signals", "signals-offline", "stella-probe"})


class StartsAProcess(AssertionError):
    pass


def is_interpreter_or_script(program: str | bytes) -> bool:
    name = os.path.basename(os.fsdecode(program))
    return (
        os.fsdecode(program) == sys.executable
        or INTERPRETER.fullmatch(name) is not None
        or name in CONSOLE_SCRIPTS
    )


@contextmanager
def no_process_started(nodeid: str) -> Iterator[None]:
    """While inside, `subprocess` refuses to start an interpreter or a console script, naming
    the test."""
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> Any:
        argv = [args] if isinstance(args, str | bytes) else list(args)
        executable = rest[0] if rest and rest[0] else None
        shell = len(rest) > 8 and rest[8]
        first = argv[0].split()[0] if shell and isinstance(argv[0], str) else argv[0]
        if not is_interpreter_or_script(executable or first):
            return original(self, args, *rest, **kwargs)
        program = argv[:3]
        raise StartsAProcess(
            f"{nodeid} is a unit test but starts a process ({program!r}): mark it "
            "@pytest.mark.e2e (docs/testing.md, the unit tier starts no process)"
        )

    subprocess.Popen._execute_child = refuse  # type: ignore[attr-defined]
    try:
        yield
    finally:
        subprocess.Popen._execute_child = original  # type: ignore[attr-defined]
