"""The compiled graph core (`_cgraph.c`, ADR 0011) is built by the package's own build wherever
the trace core is, and `STELLA_PURE_PYTHON` switches it off at run time."""

from __future__ import annotations

import pytest

from stella_signals.graph._compact import _compiled_core, graph_core
from stella_signals.trace._parse import _compiled_core as trace_core


def test_the_install_built_the_graph_core_where_it_built_the_trace_core() -> None:
    assert (_compiled_core is None) == (trace_core is None)


@pytest.mark.skipif(_compiled_core is None, reason="the compiled graph core is not built")
@pytest.mark.parametrize(("value", "expected"), [("1", "python"), ("yes", "python"),
                                                 ("0", "compiled"), ("", "compiled")])  # fmt: skip
def test_the_switch(value: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLA_PURE_PYTHON", value)
    assert graph_core() == expected
    monkeypatch.delenv("STELLA_PURE_PYTHON")
    assert graph_core() == "compiled"
