from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Api, make_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The online side, for comparisons with the offline path."""
    yield from make_api(tmp_path / "online")
