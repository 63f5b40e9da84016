from __future__ import annotations

from pathlib import Path

import pytest

from tests.realservers.backends import backend  # noqa: F401 - fixtures
from tests.realservers.fixtures import seaweed  # noqa: F401
from tests.realservers.postgres import postgres, postgres_url  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
#: Public conformance vectors live beside the repository, in the shared folder.
VECTORS = REPO.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not VECTORS.is_dir():  # pragma: no cover - the shared folder is part of the set-up
        pytest.fail(f"conformance vectors not found at {VECTORS}")
    return VECTORS
