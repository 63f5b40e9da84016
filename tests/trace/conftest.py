"""Every trace test runs on both parsers (ADR 0008): the compiled core and the pure-Python
paths it must agree with. The switch is the operator's own, ``STELLA_PURE_PYTHON``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stella_signals.trace import trace_core
from stella_signals.trace._parse import _compiled_core


@pytest.fixture(scope="module", params=["compiled", "python"], autouse=True)
def core(request: pytest.FixtureRequest) -> Iterator[str]:
    """The parser these tests run on (module scope: Hypothesis tests may use it)."""
    wanted: str = request.param
    if wanted == "compiled" and _compiled_core is None:
        pytest.skip("the compiled trace core is not built (no C compiler at install)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STELLA_PURE_PYTHON", "1" if wanted == "python" else "0")
        assert trace_core() == wanted
        yield wanted
