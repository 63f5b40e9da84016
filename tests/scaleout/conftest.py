"""The API fixtures, on every backend."""

from tests.api.conftest import api, trace_gz  # noqa: F401 - fixtures
