"""Sync imports prove where they come from (issue 14, item 1): an event batch is accepted only
when signed by a site key the tenant trusts *for sync*, and every `reach.runtime.ingested`
only with its evidence, signed by the same site. Anything else is 422 with a reason and
imports nothing; what the tenant already has is a no-op. `stella timeline verify` names the
site key that vouched for each imported event."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.attest import generate_private_key_pem, load_signer
from stella_signals.cli.stella import app as stella_app
from stella_signals.clock import SystemClock
from stella_signals.ids import new_ulid
from stella_signals.ingest import (
    RuntimeUpload,
    evidence_record,
    ingest_graph,
    ingest_runtime,
    sign_event_batch,
)
from stella_signals.locker import export_bundle
from stella_signals.ports import KeyPurpose, TrustedKey
from stella_signals.tenancy import TenantId
from stella_signals.timeline import (
    EventType,
    TimelineEvent,
    events_to_ndjson,
    next_event,
    parse_event,
)
from stella_signals.wiring import Services, load_settings
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests.api.conftest import Api

ACME = TenantId("acme")
CLOCK = SystemClock()
SPEC = SynthSpec(400, seed=41, symbols=60, purls=6)
runner = CliRunner()


@dataclass
class Site:
    """An offline deployment (its own data dir and service key) with one graph and ingests."""

    services: Services
    ingest_ids: list[str]

    def events(self) -> list[TimelineEvent]:
        return list(self.services.repo.iter_events(ACME))

    def signed(self, events: list[TimelineEvent] | None = None) -> bytes:
        return sign_event_batch(self.services.service_key.signer, events or self.events())

    def evidence(self, ingest_id: str) -> bytes:
        ctx = self.services.ingest_context("signals-offline")
        return export_bundle(evidence_record(ctx, ACME, ingest_id))


def open_site(root: Path, seeds: tuple[int, ...] = (1,)) -> Site:
    services = Services.open(load_settings(data_dir=root, environ={}))
    ctx = services.ingest_context("signals-offline")
    graph = ingest_graph(ctx, ACME, graph_bytes(SPEC))
    ids = []
    for seed in seeds:
        body = gzip.compress(trace_bytes(SynthSpec(200, seed=seed, symbols=40, purls=6)))
        upload = RuntimeUpload(
            tenant=ACME,
            ingest_id=new_ulid(services.clock),
            graph_hash=graph.graph_hash,
            body=[body],
        )
        ids.append(ingest_runtime(ctx, upload).ingest_id)
    return Site(services, ids)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = open_site(tmp_path / "site", seeds=(1, 2))
    yield site
    site.services.close()


def trust(api: Api, site: Site, purpose: KeyPurpose = KeyPurpose.SYNC) -> None:
    key = site.services.service_key
    api.services.repo.add_trusted_key(
        TrustedKey(ACME, purpose, key.keyid, key.public_pem, datetime.now(UTC))
    )


def post_events(api: Api, body: bytes, media: str = "application/json"):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/api/v1/timeline/import", content=body, headers=api.headers(**{"Content-Type": media})
    )


def post_evidence(api: Api, site: Site) -> None:
    for ingest_id in site.ingest_ids:
        response = api.client.post(
            "/api/v1/evidence/import",
            content=site.evidence(ingest_id),
            headers=api.headers(**{"Content-Type": "application/gzip"}),
        )
        assert response.status_code in (200, 201), response.text


def refused(response, reason: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["reason"] == reason, problem
    detail: str = problem["detail"]
    return detail


def forged_ingest_event(tenant: str = "acme") -> TimelineEvent:
    """What an attacker with a write token makes: a backdated, correctly self-hashed event."""
    return next_event(
        previous=None,
        event_id=new_ulid(CLOCK),
        event_type=EventType.RUNTIME_INGESTED,
        tenant=TenantId(tenant),
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
        source="signals-offline",
        correlation_id=None,
        attributes={
            "ingest_id": new_ulid(CLOCK),
            "cas_uri": "cas://reachability/runtime/" + "a" * 64,
            "content_sha256": "a" * 64,
            "graph_hash": "blake3:" + "b" * 64,
            "records": 1,
            "mapped_symbols": 1,
            "unmapped_symbols": 0,
        },
    )


def test_a_forged_self_hashed_event_is_refused(api: Api) -> None:
    before = api.events()
    body = b"".join(events_to_ndjson([forged_ingest_event()]))
    detail = refused(post_events(api, body, "application/x-ndjson"), "sync_unsigned")
    assert "signed by the site's service key" in detail
    # ... and signing it with a key of one's own does not help
    attacker = load_signer(generate_private_key_pem())
    signed = sign_event_batch(attacker, [forged_ingest_event()])
    refused(post_events(api, signed), "sync_untrusted_key")
    assert api.events() == before


def test_a_batch_signed_by_an_untrusted_key_is_refused(api: Api, site: Site) -> None:
    post_evidence_refused = api.client.post(
        "/api/v1/evidence/import",
        content=site.evidence(site.ingest_ids[0]),
        headers=api.headers(**{"Content-Type": "application/gzip"}),
    )
    assert post_evidence_refused.status_code == 422
    detail = refused(post_events(api, site.signed()), "sync_untrusted_key")
    assert "trusts no site key for sync" in detail
    assert api.events() == []


def test_a_key_trusted_only_for_traces_does_not_vouch_for_sync(api: Api, site: Site) -> None:
    trust(api, site, KeyPurpose.ATTEST)
    detail = refused(post_events(api, site.signed()), "sync_untrusted_key")
    assert f"key {site.services.service_key.keyid} is trusted for attest, not for sync" in detail
    assert api.events() == []


def test_an_ingest_event_without_its_evidence_is_refused(api: Api, site: Site) -> None:
    trust(api, site)
    detail = refused(post_events(api, site.signed()), "sync_evidence_missing")
    assert site.ingest_ids[0] in detail
    assert api.events() == []  # not even the graph event of the same batch: all or nothing


def test_a_trusted_site_cannot_vouch_for_another_sites_evidence(
    api: Api, site: Site, tmp_path: Path
) -> None:
    other = open_site(tmp_path / "other", seeds=(7,))
    try:
        trust(api, site)
        trust(api, other)
        post_evidence(api, other)
        # site signs an ingest event that claims other's ingest (and its trace)
        stolen = next(e for e in other.events() if e.event_type is EventType.RUNTIME_INGESTED)
        forged = next_event(
            previous=None,
            event_id=new_ulid(CLOCK),
            event_type=stolen.event_type,
            tenant=ACME,
            occurred_at=stolen.occurred_at,
            source=stolen.source,
            correlation_id=None,
            attributes=dict(stolen.attributes),
        )
        detail = refused(post_events(api, site.signed([forged])), "sync_evidence_mismatch")
        assert "not signed by the site key" in detail
    finally:
        other.services.close()


def test_sync_imports_once_and_names_the_key_that_vouched(
    api: Api, site: Site, tmp_path: Path
) -> None:
    trust(api, site)
    post_evidence(api, site)
    site_events = site.events()
    first = post_events(api, site.signed())
    assert first.status_code == 200, first.text
    assert first.json() == {
        "appended": len(site_events),
        "skipped": 0,
        "keyid": site.services.service_key.keyid,
    }
    imported = api.events()
    assert [e["attributes"]["origin"]["event_id"] for e in imported] == [  # type: ignore[index]
        e.event_id for e in site_events
    ]
    assert {e["attributes"]["origin"]["keyid"] for e in imported} == {  # type: ignore[index]
        site.services.service_key.keyid
    }
    # the same batch again: a no-op
    again = post_events(api, site.signed())
    assert again.json()["appended"] == 0 and again.json()["skipped"] == len(site_events)
    # the tenant's own events (online ones and the imported copies), exported and pushed
    # back by a trusted site: each is present already, so nothing is duplicated
    api.post_graph()
    export = api.client.get("/api/v1/timeline/export", headers=api.headers()).content
    own = [parse_event(line) for line in export.splitlines()]
    replay = post_events(api, site.signed(own))
    assert replay.status_code == 200, replay.text
    assert replay.json()["appended"] == 0 and replay.json()["skipped"] == len(own)
    assert len(api.events()) == len(own)
    # stella timeline verify names the key for each imported event (text and --json)
    (tmp_path / "export.ndjson").write_bytes(export)
    text = runner.invoke(stella_app, ["timeline", "verify", str(tmp_path / "export.ndjson")])
    assert text.exit_code == 0, text.output
    keyid = site.services.service_key.keyid
    lines = [ln for ln in text.stdout.splitlines() if "imported from site event" in ln]
    assert len(lines) == len(site_events)
    assert all(f"vouched for by site key {keyid}" in ln for ln in lines)
    report = runner.invoke(
        stella_app, ["timeline", "verify", str(tmp_path / "export.ndjson"), "--json"]
    )
    assert report.exit_code == 0, report.output
    origins = json.loads(report.stdout)["imported"]
    assert [o["origin_event_id"] for o in origins] == [e.event_id for e in site_events]
    assert {o["keyid"] for o in origins} == {keyid}


def test_an_event_id_the_tenant_has_with_other_content_is_refused(api: Api, site: Site) -> None:
    trust(api, site)
    api.post_graph()
    export = api.client.get("/api/v1/timeline/export", headers=api.headers()).content
    own = json.loads(export.splitlines()[0])
    own["source"] = "elsewhere"
    clash = next_event(
        previous=None,
        event_id=own["event_id"],
        event_type=EventType(own["event_type"]),
        tenant=ACME,
        occurred_at=datetime.fromisoformat(own["occurred_at"]),
        source="elsewhere",
        correlation_id=None,
        attributes=own["attributes"],
    )
    refused(post_events(api, site.signed([clash])), "sync_event_conflict")


def test_an_imported_event_pushed_again_with_other_content_is_refused(api: Api, site: Site) -> None:
    trust(api, site)
    post_evidence(api, site)
    assert post_events(api, site.signed()).status_code == 200
    graph_event = site.events()[0]
    altered = next_event(
        previous=None,
        event_id=graph_event.event_id,
        event_type=graph_event.event_type,
        tenant=ACME,
        occurred_at=datetime(2020, 1, 1, tzinfo=UTC),  # backdated
        source=graph_event.source,
        correlation_id=graph_event.correlation_id,
        attributes=dict(graph_event.attributes),
    )
    before = api.events()
    detail = refused(post_events(api, site.signed([altered])), "sync_event_conflict")
    assert graph_event.hash in detail
    assert api.events() == before
