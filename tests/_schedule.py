"""How `make pytest` hands the suite to its pytest-xdist workers (docs/testing.md).

`--dist loadscope` keeps a module's tests (a class's, for methods) on one worker, so the
module's shared servers start once. Two things are added here, through xdist's
``pytest_xdist_make_scheduler`` hook (tests/conftest.py):

* **Longest first.** Stock loadscope sends the modules with the most tests first; the long
  poles (a few tests of a minute each: SIGKILL rounds, sync, API fuzzing, the browser) then
  start last and the run ends on one busy worker. Units go out by their measured cost
  (`WEIGHTS`, seconds on the 2-CPU machine without coverage), longest first, each unknown
  unit costing `DEFAULT_SECONDS` per test: greedy longest-processing-time scheduling.
* **Split modules.** A module listed in `SPLIT` shares no module-scoped fixture between its
  tests (each starts its own servers), so each test, every parameter, is a unit of its own;
  a test listed in `DETACHED` (its own server in a module that otherwise shares one) leaves
  its module's unit the same way. Nothing else changes: the same tests run with the same
  fixtures, only on whichever worker is free.

Refresh `WEIGHTS` when a unit's time changes much (`pytest --durations=40` prints the slow
tests); an approximate figure is enough, only the order matters.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling

#: Modules whose tests each start their own servers: every test is a unit of its own.
SPLIT = frozenset(
    {
        "tests/reliability/test_short_runs.py",
        "tests/api/test_staging_sweep.py",
        "tests/scaleout/test_faults.py",
    }
)
#: Tests (without their parameters) that start their own server in a module whose other
#: tests share one.
DETACHED = frozenset(
    {
        "tests/api/test_server_process.py::test_a_server_killed_mid_ingest_leaves_all_or_nothing",
    }
)
#: Seconds a unit takes (its scope as `scope_of` names it; for a split test, per parameter),
#: measured on the 2-CPU machine; only the order they give matters.
_SHORT_RUNS = "tests/reliability/test_short_runs.py::"
WEIGHTS: dict[str, float] = {
    _SHORT_RUNS + "test_sync_killed_mid_push_imports_every_event_exactly_once": 15,
    _SHORT_RUNS + "test_server_killed_at_random_points_keeps_every_invariant": 21,
    _SHORT_RUNS + "test_mixed_load_has_no_5xx_and_loses_nothing": 8,
    _SHORT_RUNS + "test_a_full_disk_refuses_cleanly_and_recovers": 13,
    _SHORT_RUNS + "test_offline_ingest_killed_mid_way_is_finished_by_a_rerun": 7,
    "tests/api/test_staging_sweep.py::test_signals_worker_sweeps_the_part_file_a_kill_left": 4,
    "tests/api/test_staging_sweep.py::test_a_restart_sweeps_the_part_file_a_kill_left": 4,
    "tests/api/test_server_process.py::test_a_server_killed_mid_ingest_leaves_all_or_nothing": 20,
    "tests/api/test_api_fuzz.py": 40,
    "tests/offline/test_sync.py": 50,
    "tests/api/test_server_process.py": 34,
    "tests/console/test_console_browser.py": 32,
    "tests/pyscan/test_invariants.py": 29,
    "tests/trace/test_compiled_agrees.py": 28,
    "tests/api/test_runtime_ingest.py": 27,
    "tests/examples/test_shop.py": 26,
    "tests/verdicts/test_cli_e2e.py": 23,
    "tests/pyscan/test_hash_seed.py": 22,
    "tests/cli/test_cli_robustness.py": 20,
    "tests/api/test_ambiguous_input.py": 18,
    "tests/graph/test_verify_edges.py": 18,
    "tests/test_packaging.py": 17,
    "tests/scaleout/test_many_processes.py": 15,
    "tests/timeline/test_timeline.py": 15,
    "tests/api/test_authz_matrix.py": 14,
    "tests/api/test_tokens_api.py": 12,
    "tests/console/test_console_pages.py": 10,
    "tests/trace/test_fast_path_agrees.py": 10,
    "tests/api/test_verdicts.py": 10,
    "tests/api/test_server_bounds.py": 10,
    "tests/cli/test_graph_verify_tenant.py": 10,
    "tests/pyscan/test_corpus_independent.py": 9,
    "tests/trace/test_core_build.py": 9,
    "tests/fuzz/test_fuzz_regressions.py": 9,
    "tests/cli/test_startup_imports.py": 9,
    "tests/api/test_dsse_ingest.py": 8,
    "tests/pyscan/test_names_match_cpython.py": 8,
    "tests/api/test_other_routes.py": 8,
    "tests/api/test_dsse_attach.py": 8,
    "tests/api/test_probe_manifest.py": 7,
    "tests/probe/test_signed_upload.py": 7,
    "tests/offline/test_sync_trust.py": 7,
    "tests/storage/test_repository_contract.py::TestVerdictStore": 6,
    "tests/storage/test_repository_contract.py::TestIngestStore": 6,
    "tests/probe/test_identity.py": 6,
    "tests/probe/test_safety.py": 6,
    "tests/ingest/test_time_checks.py": 6,
}
#: The cost of one test of a unit `WEIGHTS` does not list.
DEFAULT_SECONDS = 0.05


def _without_parameters(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def scope_of(nodeid: str) -> str:
    """The work unit of a test: its module (its class, for a method), or the test itself
    (with its parameters) in a `SPLIT` module or when `DETACHED`."""
    module = nodeid.split("::", 1)[0]
    if module in SPLIT or _without_parameters(nodeid) in DETACHED:
        return nodeid
    return nodeid.rsplit("::", 1)[0]


def cost_of(scope: str, tests: int) -> float:
    """A unit's expected seconds: `WEIGHTS` (by scope, or a split test by its name without
    parameters), else `DEFAULT_SECONDS` per test."""
    for key in (scope, _without_parameters(scope)):
        if key in WEIGHTS:
            return WEIGHTS[key]
    return DEFAULT_SECONDS * tests


class LongestFirstScheduling(LoadScopeScheduling):
    """`--dist loadscope` with `SPLIT`/`DETACHED` units, handed out longest first."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def _assign_work_unit(self, node: Any) -> None:
        # The parent hands out the head of its queue: put the costliest unit there (the
        # first queued among equals).
        if self.workqueue:
            longest = max(
                self.workqueue, key=lambda scope: cost_of(scope, len(self.workqueue[scope]))
            )
            self.workqueue.move_to_end(longest, last=False)
        super()._assign_work_unit(node)
