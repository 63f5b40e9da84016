from __future__ import annotations

from pathlib import Path

from tests.realservers.backends import backend  # noqa: F401 - fixtures
from tests.realservers.fixtures import seaweed  # noqa: F401
from tests.realservers.postgres import postgres, postgres_url  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
#: Public conformance vectors, copied into the repository with their licences and provenance
#: (tests/vectors/README.md): a fresh clone needs nothing beside it.
VECTORS = REPO / "tests" / "vectors"
