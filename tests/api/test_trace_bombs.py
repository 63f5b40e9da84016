"""POST /api/v1/runtime-facts with a newline gzip bomb or a time outside the UTC range
(issue 14, items 6 and 10a): a problem naming the reason and an ingest id, a failed event,
nothing stored. How fast the bombs are refused is measured by reliability/bombs.py."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Api
from tests.api.test_runtime_ingest import assert_refused
from tests.trace._bombs import GiB, MiB, NewlineBomb
from tests.trace._lines import line, ndjson


@pytest.mark.parametrize("size", [1 * GiB, 10 * GiB], ids=["1MB-to-1GiB", "10MB-to-10GiB"])
def test_a_newline_bomb_is_413_too_large_after_inflating_a_few_MiB(api: Api, size: int) -> None:
    bomb = NewlineBomb(size).as_bytes()
    body = assert_refused(api, api.post_trace(bomb, api.post_graph()), 413, "too_large")
    detail = str(body["detail"])
    assert "compression ratio above 200:1" in detail
    inflated = re.search(r"\((\d+) bytes from the first (\d+) bytes", detail)
    assert inflated is not None, detail
    assert int(inflated.group(1)) <= 2 * MiB  # stopped at the first check past 1 MiB


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_outside_the_utc_range_is_400_naming_its_line(api: Api, value: str) -> None:
    trace = ndjson(line(), line(timestamp=value))
    body = assert_refused(api, api.post_trace(trace, api.post_graph()), 400, "schema_invalid")
    assert body["errors"] == [{"line": 2, "field": "timestamp", "reason": "out_of_range"}]
