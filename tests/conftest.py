from __future__ import annotations

from pathlib import Path

import pytest

import tests._examples  # noqa: F401 - registers the hypothesis profile `unit` (docs/testing.md)
from tests.realservers.backends import backend, module_backend  # noqa: F401 - fixtures
from tests.realservers.fixtures import seaweed  # noqa: F401
from tests.realservers.postgres import postgres, postgres_url  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
#: Public conformance vectors, copied into the repository with their licences and provenance
#: (tests/vectors/README.md): a fresh clone needs nothing beside it.
VECTORS = REPO / "tests" / "vectors"

#: The tiers of the test pyramid (docs/testing.md), cheapest first. Every test gets exactly
#: one, from `tier_of`; `pytest -m unit` runs the fast tier alone.
TIERS = ("unit", "contract", "e2e", "system")
#: Directories whose tests are system tests: scale-out restarts, reliability runs.
SYSTEM_DIRS = frozenset({"scaleout", "reliability"})
#: Directories whose every test runs a port's contract on each backend.
CONTRACT_DIRS = frozenset({"storage"})
#: Fixtures (direct or through others) that put a test on a real backend (PostgreSQL,
#: SeaweedFS) as well as the embedded one.
BACKEND_FIXTURES = frozenset({"backend", "module_backend", "postgres", "postgres_url", "seaweed"})


def tier_of(item: pytest.Item) -> str:
    """A test's tier: an explicit tier mark wins (tests that start `signals serve` or run a
    console script carry ``e2e``), else its directory, ``slow`` and its fixtures decide."""
    for tier in TIERS:
        if item.get_closest_marker(tier) is not None:
            return tier
    folder = item.path.parent.name
    if folder in SYSTEM_DIRS or item.get_closest_marker("slow") is not None:
        return "system"
    if folder in CONTRACT_DIRS or BACKEND_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "contract"
    return "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def _migrated_template(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests, and contract tests outside tests/storage/ (where the migrations and the
    ports are tested): a new embedded database is a copy of one migrated once per process
    (tests/_template_db.py), as their PostgreSQL deployment is a copy of a template database
    migrated once per cluster (`PostgresServer.create_database`)."""
    node = request.node
    contract = node.get_closest_marker("contract") is not None
    if node.get_closest_marker("unit") is None and (
        not contract or node.path.parent.name in CONTRACT_DIRS
    ):
        return
    from stella_signals.storage._sql_base import SqlDatabase
    from tests._template_db import copying_migrate

    monkeypatch.setattr(SqlDatabase, "migrate", copying_migrate(SqlDatabase.migrate))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """A unit test that starts a process fails (tests/_tiers.py)."""
    if item.get_closest_marker("unit") is None:
        return (yield)
    from tests._tiers import no_process_started

    with no_process_started(item.nodeid):
        return (yield)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadscope` hands out the longest units first and splits the modules whose
    tests start their own servers (tests/_schedule.py, docs/testing.md)."""
    if config.getoption("dist", None) != "loadscope":
        return None
    from tests._schedule import LongestFirstScheduling

    return LongestFirstScheduling(config, log)
