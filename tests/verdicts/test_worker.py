"""`signals worker --once` re-evaluates the (graph, catalog) pairs whose graph had new ingests
on an embedded deployment: the worker path of docs/verdicts.md ("Re-evaluation")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.cli.signals import app as signals_app
from stella_signals.ids import new_ulid
from stella_signals.ingest import (
    IngestContext,
    Outcome,
    RuntimeUpload,
    ingest_graph,
    ingest_runtime,
    parse_graph_hash,
)
from stella_signals.tenancy import parse_tenant
from stella_signals.verdicts import evaluate_pair, store_catalog
from stella_signals.wiring import Services, load_settings
from tests.verdicts._world import CATALOG_BYTES, Upload, World, make_world

#: Starts Python interpreters (the probe, another venv, a traced run): e2e, not unit
#: (tests/_tiers.py, docs/testing.md).
pytestmark = pytest.mark.e2e


ACME = parse_tenant("acme")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("worker-verdicts"))


def upload(ctx: IngestContext, graph_hash: str, window: Upload) -> None:
    result = ingest_runtime(
        ctx,
        RuntimeUpload(tenant=ACME, ingest_id=new_ulid(ctx.clock),
                      graph_hash=parse_graph_hash(graph_hash), body=[window.trace],
                      probe_manifest=window.manifest),
    )  # fmt: skip
    assert result.outcome is Outcome.INGESTED


def test_the_worker_re_evaluates_a_graph_with_new_ingests(world: World, tmp_path: Path) -> None:
    data = tmp_path / "data"
    services = Services.open(load_settings(data_dir=data, environ={}))
    try:
        ctx = services.ingest_context("test")
        graph_hash = str(ingest_graph(ctx, ACME, world.graph).graph_hash)
        upload(ctx, graph_hash, world.first)
        catalog, _ = store_catalog(ctx, ACME, CATALOG_BYTES)
        evaluate_pair(ctx, ACME, parse_graph_hash(graph_hash), catalog, since=None)
        upload(ctx, graph_hash, world.second)  # marks the pair due, in the ingest's commit
    finally:
        services.close()

    done = CliRunner().invoke(signals_app, ["worker", "--once", "--data-dir", str(data)], env={})
    assert done.exit_code == 0, done.output
    assert "verdicts: 1 pair(s) re-evaluated, 1 verdict(s) changed, 0 failed" in done.output

    services = Services.open(load_settings(data_dir=data, environ={}))
    try:
        history = services.repo.verdict_history(ACME, graph_hash=graph_hash, vuln_id="V-LATER",
                                                limit=10)  # fmt: skip
        assert [(h.from_state, h.to_state) for h in history] == [(None, "RU"), ("RU", "CR")]
        again = CliRunner().invoke(signals_app, ["worker", "--once", "--data-dir", str(data)])
        assert "verdicts:" not in again.output  # nothing due any more
    finally:
        services.close()
