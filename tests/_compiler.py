"""The C compiler the package builds use (Python's configured ``CC``), for tests that compile
or that depend on whether the install could compile the cores."""

from __future__ import annotations

import shlex
import shutil
import sysconfig

import pytest

__all__ = ["COMPILER", "needs_compiler"]

#: The command Python's build of extensions runs (its first word: ``CC`` may carry flags).
COMPILER = shlex.split(sysconfig.get_config_var("CC") or "cc")[0]

#: Skips a test (or a module, in ``pytestmark``) on a machine without that compiler.
needs_compiler = pytest.mark.skipif(
    shutil.which(COMPILER) is None, reason=f"no C compiler ({COMPILER})"
)
