"""Rendering and escaping of the console (issue 20): fast unit tests, no server."""

from __future__ import annotations

import re
from array import array
from datetime import UTC, datetime

import pytest

from stella_signals.console._alerts import AlertState, evaluate_alerts
from stella_signals.console._html import Markup, attrs, escape, join, query, render
from stella_signals.console._pages import error_page, layout, signin_page, vex_list_page
from stella_signals.console._session import csrf_token
from stella_signals.console._svg import draw_observed
from stella_signals.console._views import Page
from stella_signals.graph import GraphIndex
from stella_signals.ports import IngestRecord, VexRecord
from stella_signals.tenancy import TenantId
from stella_signals.timeanchor import TimeMode, TimeStatus

HOSTILE = "<script>alert('x')</script>\" onmouseover=\"x&y"


def test_render_escapes_every_value_but_markup() -> None:
    out = render('<p title="{t}">{b}</p>{m}', t=HOSTILE, b=HOSTILE, m=Markup("<hr>"))
    assert "<script>" not in out
    assert (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot; onmouseover=&quot;x&amp;y" in out
    )
    assert out.endswith("<hr>")
    assert escape(None) == ""
    assert join(["<a>", Markup("<b>")], ", ") == "&lt;a&gt;, <b>"


@pytest.mark.parametrize("template", ["{a.__class__}", "{a[0]}", "{a!r}", "{0}"])
def test_templates_cannot_reach_past_their_values(template: str) -> None:
    with pytest.raises((ValueError, KeyError, IndexError)):
        render(template, a="x")


def test_attrs_and_query() -> None:
    assert attrs(class_='a"b', aria_current="page", hidden=True, x=None, y=False) == (
        ' class="a&quot;b" aria-current="page" hidden'
    )
    assert query("/ui/ingests", status="failed", graph_hash="", after=None) == (
        "/ui/ingests?status=failed"
    )
    assert query("/ui/x", q="a&b=<c>") == "/ui/x?q=a%26b%3D%3Cc%3E"


def test_pages_have_no_inline_script_or_style() -> None:
    pages = [
        signin_page("c", reason="token_revoked"),
        layout("T", Markup("<p>x</p>"), tenant="acme", tenants=["acme", "globex"], csrf="c"),
        error_page(404, "Not found", HOSTILE, signed_in_csrf=None),
    ]
    for page in pages:
        assert "<script" not in page and " style=" not in page and "<style" not in page
        assert re.search(r"\son[a-z]+=\"", page) is None  # no event handler attributes
        assert 'href="/ui/static/console.css"' in page
        assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in page
    assert "revoked" in pages[0]
    assert 'name="csrf" value="c"' in pages[1]  # every form of the chrome carries it
    assert pages[1].count("<form") == pages[1].count('name="csrf"')


def test_the_graph_picture_escapes_symbols_and_stays_bounded() -> None:
    n = 200
    index = GraphIndex(
        graph_hash="blake3:" + "0" * 64,
        node_ids=[f"n{i}" for i in range(n)],
        node_symbols=[f"{HOSTILE}{i}" for i in range(n)],
        node_purls=[f"pkg:pypi/p{i % 3}" for i in range(n)],
        by_symbol={},
        by_code={},
        edge_from=array("I", range(n - 1)),
        edge_to=array("I", range(1, n)),
        roots=array("I", [0]),
    )
    hits = {f"n{i}": i + 1 for i in range(0, n, 2)} | {"n1": 10_000, "n0": 1}
    picture = draw_observed(index, hits, query="p2", link="/ui/graphs/g", max_nodes=40)
    assert len(picture.nodes) == 40
    assert picture.observed_total == len(hits)
    assert "<script>" not in picture.svg
    assert picture.nodes[0].root  # roots first
    assert any(node.match for node in picture.nodes)
    assert 'class="node match"' in picture.svg
    assert picture.edges == 2  # n0 -> n1 -> n2: the only edges whose two ends ran and are drawn
    assert "?q=%3Cscript%3E" in picture.svg


def _status(**kw: object) -> TimeStatus:
    base: dict[str, object] = {
        "mode": TimeMode.SYSTEM, "trusted": False, "source": "system", "checked_at": None,
        "anchor_time": None, "staleness_seconds": None, "drift_ms": None, "blocked": False,
        "reason": None, "retry_after_seconds": None, "message": "m",
    }  # fmt: skip
    return TimeStatus(**(base | kw))  # type: ignore[arg-type]


def _ingest(status: str, reason: str | None = None) -> IngestRecord:
    return IngestRecord(
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "acme",
        status,
        datetime(2026, 1, 1, tzinfo=UTC),
        reason=reason,
    )


def test_alerts_follow_the_rules_thresholds() -> None:
    quiet = {a.name: a.state for a in evaluate_alerts([], queue_depth=0, time=_status())}
    assert AlertState.FIRING not in quiet.values()
    recent = (
        [_ingest("ingested")] * 10
        + [_ingest("failed", "dsse_invalid")]
        + [_ingest("orphaned")] * 16
    )
    loud = evaluate_alerts(recent, queue_depth=101, time=_status(drift_ms=250.0))
    states = {a.name: a.state for a in loud}
    assert states["ReachabilityOrphanRateHigh"] is AlertState.FIRING  # 16 in 15 min
    assert states["SignalsIngestFailing"] is AlertState.OK  # 1 of 27: 3.7 %, under 5 %
    assert states["SignalsIngestEvidenceRejected"] is AlertState.FIRING
    assert states["SignalsClockDrift"] is AlertState.FIRING
    assert states["SignalsTimeAnchorStale"] is AlertState.OK
    assert states["ReachabilityOrphanQueueGrowing"] is AlertState.NOT_EVALUATED
    failing = recent + [_ingest("failed", "schema_invalid")] * 2  # 2 of 29: 6.9 %
    states = {a.name: a.state for a in evaluate_alerts(failing, queue_depth=0, time=_status())}
    assert states["SignalsIngestFailing"] is AlertState.FIRING
    assert states["ReachabilityOrphanQueueGrowing"] is AlertState.OK


def test_csrf_values_are_bound_to_the_token_and_tenant() -> None:
    a = csrf_token("stl_a", "acme")
    assert a == csrf_token("stl_a", "acme")
    assert a != csrf_token("stl_b", "acme") != csrf_token("stl_a", "globex")
    assert len(a) == 43 and "stl_a" not in a


def test_the_timeline_shows_each_link_and_the_site_key_of_imported_events() -> None:
    from stella_signals.console._pages import timeline_page
    from stella_signals.console._views import EventRow, Page
    from stella_signals.timeline import EventType, ImportedOrigin, check_chain, next_event

    at = datetime(2026, 1, 1, tzinfo=UTC)
    first = next_event(
        previous=None, tenant="acme", event_type=EventType.GRAPH_INGESTED, occurred_at=at,
        source="s", correlation_id=None, attributes={"graph_hash": "g"},
        event_id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
    )  # fmt: skip
    origin = {"event_id": "01ARZ3NDEKTSV4RRFFQ69G5FAW", "seq": 7, "keyid": HOSTILE}
    second = next_event(
        previous=first, tenant="acme", event_type=EventType.RUNTIME_INGESTED, occurred_at=at,
        source="sync", correlation_id=None, attributes={"origin": origin},
        event_id="01ARZ3NDEKTSV4RRFFQ69G5FAX",
    )  # fmt: skip
    rows = [
        EventRow(first, True, True, None),
        EventRow(second, True, False, ImportedOrigin.of(second)),
    ]
    html = timeline_page(
        Page(rows, None), event_type="", after="", csrf="c", chain=check_chain([first, second])
    )
    assert "Chain verified from seq 1 up to seq 2" in html
    assert "site event seq 7" in html and "<script>" not in html
    assert "&lt;script&gt;" in html  # the key id, escaped
    assert html.count(">broken<") == 1  # the second row's link, as given
    assert "1 imported event(s) in the chain" in html


def _luminance(hex_color: str) -> float:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_palette_has_readable_contrast() -> None:
    """WCAG AA (4.5:1) for every text colour of the stylesheet on its background."""
    from importlib import resources

    css = (resources.files("stella_signals.console") / "static" / "console.css").read_text()
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    pairs = [
        ("fg", "bg"), ("fg", "card"), ("muted", "bg"), ("muted", "card"), ("link", "bg"),
        ("link", "card"), ("ok", "ok-bg"), ("warn", "warn-bg"), ("bad", "bad-bg"),
        ("fg", "mute-bg"),
    ]  # fmt: skip
    for text, background in pairs:
        assert _contrast(var[text], var[background]) >= 4.5, (text, background)
    assert _contrast("#ffffff", "#0d2238") >= 4.5  # the header
    assert _contrast("#ffffff", "#0b4f94") >= 4.5  # buttons
    assert _contrast("#3d4550", "#eceef1") >= 4.5  # muted badges


def test_an_ingest_page_shows_its_dsse_keys_and_escapes_its_receipt() -> None:
    from stella_signals.console._pages import ingest_page
    from stella_signals.console._views import Check, IngestDetail
    from stella_signals.timeline import EventType, next_event

    receipt = {
        "ingest_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "status": "ingested",
        "received_at": "2026-01-01T00:00:00Z",
        "graph_hash": "blake3:" + "a" * 64,
        "content_sha256": "b" * 64,
        "dsse_digest": "sha256:" + "c" * 64,
        "counts": {"lines": 3, "records": 3, "mapped_symbols": 2, "unmapped_symbols": 1},
        "time": {"mode": "ntp", "staleness_seconds": None, "drift_ms": 12.5},
        "detail": HOSTILE,
    }
    event = next_event(
        previous=None, tenant="acme", event_type=EventType.RUNTIME_INGESTED,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC), source="s", correlation_id=None,
        attributes={"keyids": ["key-a", "key-b"]}, event_id="01ARZ3NDEKTSV4RRFFQ69G5FAW",
    )  # fmt: skip
    detail = IngestDetail(receipt["ingest_id"], "ingested", receipt, False, None, event, True)
    checks = [Check("checksum", "ok", "4 file(s)"), Check("runtime_dsse", "failed", HOSTILE)]
    html = ingest_page(detail, "tok", checks)
    assert "verified at ingest by key(s) key-a, key-b" in html
    assert "ntp, drift 12.5 ms" in html
    assert "Verification FAILED." in html
    assert "<script>" not in html and html.count("&lt;script&gt;") == 2  # check + receipt JSON
    assert 'href="/ui/ingests/01ARZ3NDEKTSV4RRFFQ69G5FAV/bundle"' in html
    assert 'name="csrf" value="tok"' in html


def test_the_vex_page_lists_documents_with_links_a_next_page_and_the_lookup() -> None:
    def record(n: int, graph: str) -> VexRecord:
        return VexRecord(
            vex_id=f"01M8EK{n:020d}",
            tenant=TenantId("acme"),
            format="openvex",
            sha256=f"{n:064x}",
            cas_uri="cas://vex/documents/" + "e" * 64,
            dsse_uri="cas://vex/attestations/" + "f" * 64,
            graph_hash=graph,
            catalog_digest="sha256:" + "c" * 64,
            evaluation_id="01M8EK" + "0" * 20,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )

    items = [record(2, "blake3:" + "a" * 64), record(1, HOSTILE)]
    out = vex_list_page(Page(items, next_after=items[-1].vex_id), after="")
    for r in items:
        assert f'<a href="/ui/vex/{r.vex_id}">{r.vex_id}</a>' in out
    assert out.index(items[0].vex_id) < out.index(items[1].vex_id)
    assert f'href="/ui/vex?after={items[-1].vex_id}" rel="next"' in out
    assert "<script>" not in out
    # The lookup by id follows the list.
    assert out.index('id="vex-documents"') < out.index('action="/ui/vex"')
    last = vex_list_page(Page([], next_after=None), after=items[-1].vex_id)
    assert "no VEX documents" in last and 'rel="next"' not in last
    assert 'href="/ui/vex">First page</a>' in last
