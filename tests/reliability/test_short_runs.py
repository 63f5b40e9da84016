"""Short passes of the reliability runs (`make reliability` runs them long and writes
docs/reliability.md): SIGKILL rounds for the server, offline ingest and sync; a full disk;
a mixed load. Each run checks its own invariants and lists what it found violated."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability import crash, disk_full, load
from tests.realservers.backends import Backend

pytestmark = pytest.mark.slow


def test_server_killed_at_random_points_keeps_every_invariant(
    backend: Backend, tmp_path: Path
) -> None:
    result = crash.server_rounds(backend, tmp_path, rounds=3, seed=11, kill_within=0.8)
    assert result["violations"] == []
    assert result["final"]["accepted"] >= 1 and result["final"]["chain_ok"]


def test_offline_ingest_killed_mid_way_is_finished_by_a_rerun(tmp_path: Path) -> None:
    result = crash.offline_rounds(tmp_path, rounds=2, seed=12)
    assert result["violations"] == []
    assert result["final"]["accepted"] == 2
    # the kills landed in the ingest (after its first blob file, before it ended), not in
    # the start-up or after the commit
    mid_ingest = [k for k in result["outcomes"] if k.startswith("killed mid-ingest")]
    assert sum(result["outcomes"][k] for k in mid_ingest) >= 1, result["outcomes"]


def test_sync_killed_mid_push_imports_every_event_exactly_once(
    backend: Backend, tmp_path: Path
) -> None:
    result = crash.sync_rounds(backend, tmp_path, rounds=2, seed=13)
    assert result["violations"] == []
    assert result["imported_once"] == result["offline_events"] > 0
    assert result["killed_mid_sync"] >= 1  # a kill after a batch landed, before the end


def test_a_full_disk_refuses_cleanly_and_recovers(tmp_path: Path) -> None:
    result = disk_full.run(tmp_path)
    assert result["violations"] == []
    assert result["refusal"]["status"] == 507
    assert result["refusal"]["reason"] == "insufficient_storage"
    assert result["after_freeing"] == 201


def test_mixed_load_has_no_5xx_and_loses_nothing(backend: Backend, tmp_path: Path) -> None:
    result = load.run(backend, tmp_path, seconds=4, clients=8)
    assert result["violations"] == []
    assert result["five_xx"] == 0 and result["accepted"] == result["stored_accepted"] > 0
