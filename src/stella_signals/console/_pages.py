"""The console's HTML: one function per page, from the data of `_views` to `Markup`.

Every value goes through `_html.render`, which escapes it; the only raw HTML is the literal
templates below. No inline script or style: the stylesheet is /ui/static/console.css.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from stella_signals.clock import format_utc
from stella_signals.console._alerts import AlertState
from stella_signals.console._html import Markup, attrs, join, query, render
from stella_signals.console._svg import Picture
from stella_signals.console._views import (
    STATE_MEANING,
    STATUSES,
    Check,
    EventRow,
    GraphView,
    IngestDetail,
    Overview,
    Page,
    VexView,
)
from stella_signals.ports import (
    IngestRecord,
    StoredUnknown,
    StoredVerdict,
    VerdictChange,
    VexRecord,
)
from stella_signals.timeline import ChainReport, EventType, TimelineEvent

__all__ = [
    "NAV",
    "error_page",
    "graph_page",
    "graphs_page",
    "history_page",
    "ingest_page",
    "ingests_page",
    "layout",
    "overview_page",
    "signin_page",
    "tenant_page",
    "timeline_page",
    "unknowns_page",
    "verdicts_page",
    "vex_list_page",
    "vex_page",
]

NAV = (
    ("overview", "/ui/overview", "Overview"),
    ("ingests", "/ui/ingests", "Ingests"),
    ("timeline", "/ui/timeline", "Timeline"),
    ("graphs", "/ui/graphs", "Graph coverage"),
    ("verdicts", "/ui/verdicts", "Verdicts"),
    ("unknowns", "/ui/unknowns", "Unknowns"),
)
_COLORS = {"ingested": "ok", "orphaned": "warn", "expired": "muted", "failed": "bad"}


def _csrf(csrf: str) -> Markup:
    return render('<input type="hidden" name="csrf" value="{v}">', v=csrf)


def layout(
    title: str,
    body: Markup,
    *,
    active: str = "",
    tenant: str | None = None,
    tenants: Sequence[str] = (),
    csrf: str | None = None,
) -> Markup:
    """A whole page. Signed in (``csrf`` given): the navigation, the tenant and sign-out."""
    header = Markup("")
    if csrf is not None:
        links = join(
            render(
                '<a href="{href}"{current}>{label}</a>',
                href=href,
                label=label,
                current=attrs(aria_current="page" if key == active else None),
            )
            for key, href, label in NAV
        )
        switch = Markup("")
        if len(tenants) > 1:
            options = join(
                render(
                    "<option{a}>{t}</option>",
                    t=t,
                    a=attrs(value=t, selected=t == tenant),
                )
                for t in tenants
            )
            switch = render(
                '<form method="post" action="/ui/tenant" class="inline">{csrf}'
                '<label for="tenant-switch">Tenant</label> '
                '<select id="tenant-switch" name="tenant">{options}</select> '
                '<button type="submit">Switch</button></form>',
                csrf=_csrf(csrf),
                options=options,
            )
        elif tenant:
            switch = render('<span class="tenant">tenant <strong>{t}</strong></span>', t=tenant)
        header = render(
            '<header class="top"><a class="brand" href="/ui/overview">stella-signals</a>'
            '<nav aria-label="Console">{links}</nav><div class="who">{switch}'
            '<form method="post" action="/ui/sign-out" class="inline">{csrf}'
            '<button type="submit" class="link">Sign out</button></form></div></header>',
            links=links,
            switch=switch,
            csrf=_csrf(csrf),
        )
    else:
        header = Markup('<header class="top"><span class="brand">stella-signals</span></header>')
    return render(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{title} · stella-signals</title>"
        '<link rel="stylesheet" href="/ui/static/console.css">'
        '<link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml"></head>'
        '<body><a class="skip" href="#main">Skip to content</a>{header}'
        '<main id="main" tabindex="-1"><h1>{title}</h1>{body}</main></body></html>',
        title=title,
        header=header,
        body=body,
    )


def _time(value: Any) -> str:
    if value is None:
        return "—"
    if hasattr(value, "tzinfo"):
        return format_utc(value)
    return str(value)


def _short(digest: str | None, keep: int = 16) -> str:
    if not digest:
        return "—"
    algo, sep, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:keep]}…" if sep and len(hexpart) > keep else digest


def _badge(status: str) -> Markup:
    return render('<span class="badge {c}">{s}</span>', c=_COLORS.get(status, "muted"), s=status)


def _flag(text: str, kind: str) -> Markup:
    """A badge with its own text: kind ``ok``, ``warn``, ``bad`` or ``muted``."""
    return render('<span class="badge {c}">{t}</span>', c=kind, t=text)


def _notice(kind: str, text: str) -> Markup:
    role = "alert" if kind == "bad" else "status"
    return render('<p class="notice {k}" role="{r}">{t}</p>', k=kind, r=role, t=text)


# -- sign-in --------------------------------------------------------------------------------
_SIGNED_OUT = {
    "signed_out": "Signed out.",
    "token_revoked": "Your token has been revoked: you were signed out.",
    "token_expired": "Your token has expired: you were signed out.",
    "unauthenticated": "Your token is no longer known: you were signed out.",
}


def signin_page(csrf: str, *, reason: str | None = None, error: str | None = None) -> Markup:
    notes = Markup("")
    if error:
        notes = _notice("bad", error)
    elif reason in _SIGNED_OUT:
        notes = _notice("warn" if reason != "signed_out" else "info", _SIGNED_OUT[reason])
    body = render(
        '{notes}<form method="post" action="/ui/sign-in" class="card narrow">'
        '<input type="hidden" name="csrf" value="{csrf}">'
        '<label for="token">Bearer token</label>'
        '<input id="token" name="token" type="password" autocomplete="off" required '
        'spellcheck="false" autofocus>'
        '<label for="tenant">Tenant <span class="hint">(optional when the token allows one)'
        "</span></label>"
        '<input id="tenant" name="tenant" autocomplete="off" spellcheck="false">'
        '<button type="submit">Sign in</button>'
        '<p class="hint">A token from <code>signals tokens create</code> or '
        "<code>POST /api/v1/tokens</code>. It is kept in an HttpOnly cookie of this site "
        "only and checked on every page, as the API checks it.</p></form>",
        notes=notes,
        csrf=csrf,
    )
    return layout("Sign in", body)


def tenant_page(tenants: Sequence[str], csrf: str) -> Markup:
    buttons = join(
        render(
            '<li><form method="post" action="/ui/tenant">{c}'
            '<button type="submit" name="tenant" value="{t}">{t}</button></form></li>',
            c=_csrf(csrf),
            t=t,
        )
        for t in tenants
    )
    body = render(
        "<p>This token allows several tenants; choose one (you can switch later).</p>"
        '<ul class="choices">{b}</ul>',
        b=buttons,
    )
    return layout("Choose a tenant", body, csrf=csrf)


def error_page(status: int, title: str, message: str, *, signed_in_csrf: str | None) -> Markup:
    body = render(
        '<p class="notice bad" role="alert">{m}</p><p><a href="/ui/overview">Back to the '
        "overview</a></p>",
        m=message,
    )
    return layout(f"{status} {title}", body, csrf=signed_in_csrf)


# -- overview -------------------------------------------------------------------------------
def _bars(data: Overview) -> Markup:
    """Ingests per hour as a stacked bar chart (SVG), and the same figures as a table."""
    top = max((sum(c.values()) for _, c in data.hours), default=0) or 1
    w, h, gap = 24, 120, 4
    bars: list[Markup] = []
    for i, (hour, counts) in enumerate(data.hours):
        y = h
        for status in STATUSES:
            n = counts[status]
            if not n:
                continue
            height = max(1, round(n * h / top))
            y -= height
            bars.append(
                render(
                    '<rect class="bar {c}" x="{x}" y="{y}" width="{w}" height="{hh}">'
                    "<title>{t}</title></rect>",
                    c=_COLORS[status],
                    x=i * (w + gap),
                    y=y,
                    w=w,
                    hh=height,
                    t=f"{hour:%H}:00 UTC: {n} {status}",
                )
            )
        if i % 6 == 0:
            bars.append(
                render(
                    '<text class="axis" x="{x}" y="{y}">{t}</text>',
                    x=i * (w + gap),
                    y=h + 14,
                    t=f"{hour:%H}:00",
                )
            )
    svg = render(
        '<svg class="chart" viewBox="0 0 {vw} {vh}" role="img" aria-label="{label}">{b}</svg>',
        vw=len(data.hours) * (w + gap),
        vh=h + 18,
        label=f"ingests per hour, last {len(data.hours)} hours: {data.counted} in all",
        b=join(bars),
    )
    rows = join(
        render(
            "<tr><td>{h}</td>{cells}</tr>",
            h=f"{hour:%Y-%m-%d %H}:00Z",
            cells=join(render("<td>{n}</td>", n=counts[s]) for s in STATUSES),
        )
        for hour, counts in data.hours
        if any(counts.values())
    )
    heads = join(render('<th scope="col">{s}</th>', s=s) for s in STATUSES)
    table = render(
        '<details><summary>As a table</summary><table><thead><tr><th scope="col">hour</th>'
        "{heads}</tr></thead><tbody>{rows}</tbody></table></details>",
        heads=heads,
        rows=rows or Markup('<tr><td colspan="5">no ingests</td></tr>'),
    )
    legend = join(render('<span class="key {c}">{s}</span>', c=_COLORS[s], s=s) for s in STATUSES)
    return render('<div class="legend">{l}</div>{svg}{table}', l=legend, svg=svg, table=table)


def overview_page(data: Overview, tenant: str) -> Markup:
    t = data.time
    if t.staleness_seconds is not None:
        time_line = f"anchor staleness {t.staleness_seconds:,.0f} s"
    elif t.drift_ms is not None:
        time_line = f"drift {t.drift_ms:+.1f} ms"
    else:
        time_line = "local clock, untrusted (mode system)"
    time_card = render(
        '<section class="card" aria-labelledby="h-time"><h2 id="h-time">Time</h2>'
        '<p class="big">{mode}</p><p>{line}</p><p>{state}</p><p class="hint">{msg}</p></section>',
        mode=t.mode.value,
        line=time_line,
        state=_flag(f"ingest blocked: {t.reason}", "bad")
        if t.blocked
        else _flag("ingest allowed", "ok"),
        msg=t.message,
    )
    orphans = render(
        '<section class="card" aria-labelledby="h-orph"><h2 id="h-orph">Orphans waiting</h2>'
        '<p class="big">{n}{plus}</p><p><a href="/ui/ingests?status=orphaned">list them</a></p>'
        '<p class="hint">traces whose graph this tenant has not ingested; retried until 7 '
        "days.</p></section>",
        n=data.orphans_waiting,
        plus="+" if data.orphans_capped else "",
    )
    firing = [a for a in data.alerts if a.state is AlertState.FIRING]
    alert_rows = join(
        render(
            '<tr class="{cls}"><th scope="row">{n}</th><td>{sev}</td><td>{state}</td>'
            "<td>{d}</td></tr>",
            cls="firing" if a.state is AlertState.FIRING else "",
            n=a.name,
            sev=a.severity,
            state=a.state.value,
            d=a.detail,
        )
        for a in data.alerts
    )
    alerts = render(
        '<section class="card wide" aria-labelledby="h-al"><h2 id="h-al">Alerts '
        '<span class="hint">({n} firing)</span></h2><div class="scroll"><table>'
        '<thead><tr><th scope="col">rule</th><th scope="col">severity</th>'
        '<th scope="col">state</th><th scope="col">why</th></tr></thead><tbody>{rows}'
        '</tbody></table></div><p class="hint">The rules of deploy/prometheus/alerts.yml, '
        "evaluated on this tenant's last 15 minutes; a rule's <code>for:</code> wait is not "
        "applied.</p></section>",
        n=len(firing),
        rows=alert_rows,
    )
    chart = render(
        '<section class="card wide" aria-labelledby="h-ing"><h2 id="h-ing">Ingests, last 24 '
        'hours <span class="hint">({n}{cap} counted)</span></h2>{bars}</section>',
        n=data.counted,
        cap=" — capped" if data.capped else "",
        bars=_bars(data),
    )
    return render('<div class="grid">{a}{b}{c}{d}</div>', a=time_card, b=orphans, c=alerts, d=chart)


# -- ingests --------------------------------------------------------------------------------
def _counts(receipt: Mapping[str, Any] | None, name: str) -> str:
    counts = receipt.get("counts") if receipt else None
    if isinstance(counts, Mapping) and name in counts:
        return str(counts[name])
    return "—"


def ingests_page(page: Page[IngestRecord], *, graph_hash: str, status: str, after: str) -> Markup:
    options = _options(STATUSES, status)
    form = render(
        '<form method="get" action="/ui/ingests" class="filters" role="search">'
        '<label for="f-graph">Graph hash</label>'
        '<input id="f-graph" name="graph_hash" value="{g}" placeholder="blake3:…" '
        'spellcheck="false">'
        '<label for="f-status">Status</label><select id="f-status" name="status">{o}</select>'
        '<button type="submit">Filter</button></form>',
        g=graph_hash,
        o=options,
    )
    rows = join(
        render(
            '<tr><td><a href="/ui/ingests/{id}">{id}</a></td><td>{at}</td><td>{st}</td>'
            '<td class="mono">{g}</td><td>{rec}</td><td>{why}</td></tr>',
            id=r.ingest_id,
            at=_time(r.received_at),
            st=_badge(r.status),
            g=_short(r.graph_hash),
            rec=_counts(r.receipt, "records"),
            why=r.reason or "",
        )
        for r in page.items
    )
    table = _list_table(
        "ingests",
        ("ingest", "received", "status", "graph", "records", "reason"),
        rows,
        "no ingests",
    )
    pager = _pager("/ui/ingests", page, after, graph_hash=graph_hash, status=status)
    return render("{f}{t}{p}", f=form, t=table, p=pager)


def _options(values: Iterable[str], selected: str) -> Markup:
    """A filter's ``<option>``s: "any" (the empty value), then ``values``; ``selected`` marked."""
    return join(
        render("<option{a}>{s}</option>", s=s or "any", a=attrs(value=s, selected=s == selected))
        for s in ("", *values)
    )


def _list_table(table_id: str, columns: Sequence[str], rows: Markup, empty: str) -> Markup:
    """A list page's table: one header cell per column, then ``rows``, or one row saying
    ``empty`` across every column when there are none."""
    return render(
        '<div class="scroll"><table class="list" id="{id}"><thead><tr>{heads}</tr></thead>'
        "<tbody>{rows}</tbody></table></div>",
        id=table_id,
        heads=join(render('<th scope="col">{c}</th>', c=c) for c in columns),
        rows=rows or render('<tr><td colspan="{n}">{e}</td></tr>', n=len(columns), e=empty),
    )


def _pager(path: str, page: Page[Any], after: str, **keep: str) -> Markup:
    """Links to the first page (when not on it) and the next one (when there is one), each
    keeping the filters ``keep``."""
    next_after = page.next_after
    links = []
    if after:
        links.append(render('<a href="{h}">First page</a>', h=query(path, **keep)))
    if next_after:
        links.append(
            render(
                '<a href="{h}" rel="next">Next page</a>', h=query(path, after=next_after, **keep)
            )
        )
    return render('<nav class="pager" aria-label="Pages">{l}</nav>', l=join(links, " · "))


def _dl(pairs: Sequence[tuple[str, object]]) -> Markup:
    return render(
        "<dl>{items}</dl>",
        items=join(render("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in pairs),
    )


def _receipt_time(time: Mapping[str, Any]) -> str:
    parts = [str(time.get("mode", "—"))]
    if time.get("staleness_seconds") is not None:
        parts.append(f"anchor staleness {time['staleness_seconds']} s")
    if time.get("drift_ms") is not None:
        parts.append(f"drift {time['drift_ms']} ms")
    return ", ".join(parts)


def ingest_page(detail: IngestDetail, csrf: str, checks: Sequence[Check] | None) -> Markup:
    r = detail.receipt or {}
    record = detail.record
    given = r.get("time")
    time: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    summary = _dl(
        [
            ("status", _badge(detail.status)),
            ("received", r.get("received_at") or (_time(record.received_at) if record else "—")),
            (
                "graph",
                render(
                    '<span class="mono">{g}</span>',
                    g=r.get("graph_hash") or (record.graph_hash if record else None) or "—",
                ),
            ),
            (
                "trace sha256",
                render('<span class="mono">{g}</span>', g=r.get("content_sha256") or "—"),
            ),
            ("origin", "imported from an offline site" if detail.imported else "ingested here"),
        ]
        + ([("refused", f"{record.reason}: {record.detail}")] if record and record.reason else [])
    )
    trace = _dl(
        [
            ("lines", _counts(r, "lines")),
            ("records", _counts(r, "records")),
            ("unique symbols", _counts(r, "unique_symbols")),
            (
                "mapped / unmapped",
                f"{_counts(r, 'mapped_symbols')} / {_counts(r, 'unmapped_symbols')}",
            ),
            ("edges confirmed", _counts(r, "edges_confirmed")),
            ("time", _receipt_time(time)),
            ("probe manifest", r.get("probe_manifest_digest") or "none"),
        ]
    )
    keyids = detail.event.attributes.get("keyids") if detail.event else None
    if r.get("dsse_digest"):
        dsse = render(
            '{b} envelope <span class="mono">{d}</span> verified at ingest{k}',
            b=_flag("signed", "ok"),
            d=r.get("dsse_digest"),
            k=f" by key(s) {', '.join(keyids)}" if isinstance(keyids, list | tuple) else "",
        )
    else:
        dsse = render(
            "{b} no DSSE envelope (the tenant's policy did not require one)",
            b=_flag("unsigned", "muted"),
        )
    sections = [
        render(
            '<section class="card" aria-labelledby="h-s"><h2 id="h-s">Receipt</h2>{s}</section>',
            s=summary,
        ),
        render(
            '<section class="card" aria-labelledby="h-t"><h2 id="h-t">Trace</h2>{t}</section>',
            t=trace,
        ),
        render(
            '<section class="card" aria-labelledby="h-d"><h2 id="h-d">DSSE</h2>'
            "<p>{d}</p></section>",
            d=dsse,
        ),
    ]
    if detail.has_evidence:
        verify = Markup("")
        if checks is not None:
            ok = all(c.status != "failed" for c in checks)
            rows = join(
                render(
                    '<tr><th scope="row">{n}</th><td>{s}</td><td>{m}</td></tr>',
                    n=c.name,
                    s=_flag(c.status, {"ok": "ok", "failed": "bad"}.get(c.status, "muted")),
                    m=c.message,
                )
                for c in checks
            )
            verify = render(
                '{n}<div class="scroll"><table id="checks"><tbody>{rows}</tbody></table></div>',
                n=_notice(
                    "ok" if ok else "bad",
                    "Verified: every check passed." if ok else "Verification FAILED.",
                ),
                rows=rows,
            )
        sections.append(
            render(
                '<section class="card wide" aria-labelledby="h-e"><h2 id="h-e">Evidence</h2>'
                '<p><a class="button" href="/ui/ingests/{id}/bundle" download>Download the '
                'evidence bundle</a> <span class="hint">(the tar.gz of <code>GET '
                "/api/v1/evidence/{id}/bundle</code>; check it offline with <code>stella "
                "evidence verify</code>)</span></p>"
                '<form method="post" action="/ui/ingests/{id}/verify">{c}'
                '<button type="submit">Verify now</button> <span class="hint">re-checks, on '
                "the server, the digests, the receipt signature, the trace's DSSE and the "
                "timeline link</span></form>{v}</section>",
                id=detail.ingest_id,
                c=_csrf(csrf),
                v=verify,
            )
        )
    if detail.receipt is not None:
        sections.append(
            render(
                '<section class="card wide"><details><summary>The receipt as JSON</summary>'
                "<pre>{j}</pre></details></section>",
                j=json.dumps(dict(detail.receipt), indent=2, sort_keys=True, default=str),
            )
        )
    return render(
        '<p class="mono">{id}</p><div class="grid">{s}</div>', id=detail.ingest_id, s=join(sections)
    )


# -- timeline -------------------------------------------------------------------------------
def timeline_page(
    page: Page[EventRow],
    *,
    event_type: str,
    after: str,
    csrf: str,
    chain: ChainReport | None,
) -> Markup:
    options = _options(sorted(t.value for t in EventType), event_type)
    form = render(
        '<form method="get" action="/ui/timeline" class="filters" role="search">'
        '<label for="f-type">Event type</label><select id="f-type" name="type">{o}</select>'
        '<button type="submit">Filter</button></form>',
        o=options,
    )
    status = Markup("")
    if chain is not None:
        if chain.ok:
            head = chain.head.seq if chain.head else 0
            status = _notice(
                "ok",
                f"Chain verified from seq 1 up to seq {head} ({chain.events_checked} event(s)).",
            )
        else:
            status = _notice("bad", chain.message)
        if chain.imported:
            status = render(
                "{s}<p>{n} imported event(s) in the chain, each vouched for by its site key: "
                "{k}</p>",
                s=status,
                n=len(chain.imported),
                k=", ".join(sorted({o.keyid or "(unsigned)" for o in chain.imported})),
            )
    verify = render(
        '<form method="post" action="/ui/timeline/verify" class="inline">{c}'
        '<button type="submit">Verify the whole chain</button></form>',
        c=_csrf(csrf),
    )

    def mark(ok: bool | None) -> Markup:
        if ok is None:
            return Markup('<span class="hint">—</span>')
        return _flag("ok", "ok") if ok else _flag("broken", "bad")

    rows = join(
        render(
            '<tr><td>{seq}</td><td>{type}</td><td>{at}</td><td class="mono">{h}</td>'
            "<td>{hok}</td><td>{lok}</td><td>{origin}</td></tr>",
            seq=row.event.seq,
            type=row.event.event_type.value,
            at=_time(row.event.occurred_at),
            h=_short(row.event.hash, 12),
            hok=mark(row.hash_ok),
            lok=mark(row.link_ok),
            origin=_origin(row),
        )
        for row in page.items
    )
    columns = ("seq", "type", "occurred", "hash", "hash ok", "link ok", "imported from")
    table = _list_table("events", columns, rows, "no events")
    pager = _pager("/ui/timeline", page, after, type=event_type)
    return render(
        '<div class="bar-row">{f}{v}</div>{s}<p class="hint">Each row: the event hashes to its '
        "hash, and its prev_hash is the hash of the event before it.</p>{t}{p}",
        f=form,
        v=verify,
        s=status,
        t=table,
        p=pager,
    )


def _origin(row: EventRow) -> Markup:
    o = row.origin
    if o is None:
        return Markup("")
    return render(
        'site event seq {s}, key <span class="mono">{k}</span>',
        s=o.origin_seq if o.origin_seq is not None else "?",
        k=o.keyid or "(unsigned)",
    )


# -- graphs ---------------------------------------------------------------------------------
def graphs_page(page: Page[TimelineEvent], *, after: str) -> Markup:
    rows = join(
        render(
            '<tr><td class="mono"><a href="/ui/graphs/{q}">{g}</a></td><td>{n}</td><td>{e}</td>'
            "<td>{at}</td><td>{d}</td></tr>",
            q=quote(str(e.attributes.get("graph_hash", "")), safe=":"),
            g=_short(str(e.attributes.get("graph_hash", "")), 24),
            n=e.attributes.get("nodes", "—"),
            e=e.attributes.get("edges", "—"),
            at=_time(e.occurred_at),
            d="signed" if e.attributes.get("dsse_digest") else "",
        )
        for e in page.items
    )
    columns = ("graph", "nodes", "edges", "ingested", "DSSE")
    table = _list_table("graphs", columns, rows, "no graphs")
    return render("{t}{p}", t=table, p=_pager("/ui/graphs", page, after))


def graph_page(view: GraphView, picture: Picture, q: str) -> Markup:
    index = view.index
    link = f"/ui/graphs/{quote(view.graph_hash, safe=':')}"
    coverage = _dl(
        [
            ("graph", render('<span class="mono">{g}</span>', g=view.graph_hash)),
            ("nodes observed", f"{view.nodes_observed} of {index.nodes_total}"),
            ("edges confirmed", f"{view.edges_confirmed} of {index.edges_total}"),
            ("roots", str(len(index.roots))),
            ("DSSE", view.dsse_digest or "none"),
            (
                "verdicts",
                render(
                    '<a href="{v}">verdicts</a> · <a href="{u}">unknowns</a> (unexpected '
                    "edges, unmapped symbols) of this graph",
                    v=query("/ui/verdicts", graph_hash=view.graph_hash),
                    u=query("/ui/unknowns", graph_hash=view.graph_hash),
                ),
            ),
        ]
    )
    form = render(
        '<form method="get" action="{l}" class="filters" role="search">'
        '<label for="q">Symbol or purl</label><input id="q" name="q" value="{q}" '
        'spellcheck="false"><button type="submit">Search</button>{clear}</form>',
        l=link,
        q=q,
        clear=render(' <a href="{l}">clear</a>', l=link) if q else Markup(""),
    )
    found = (
        render("<p>{n} observed node(s) match <q>{q}</q>.</p>", n=picture.matches_total, q=q)
        if q
        else Markup("")
    )
    rows = join(
        render(
            '<tr{cls}><td class="mono">{s}</td><td class="mono">{p}</td><td>{h}</td>'
            "<td>{r}</td></tr>",
            cls=attrs(class_="match" if n.match else None),
            s=n.symbol,
            p=n.purl or "—",
            h=n.hits,
            r="root" if n.root else "",
        )
        for n in sorted(picture.nodes, key=lambda n: -n.hits)
    )
    legend = Markup(
        '<div class="legend"><span class="key root">root</span><span class="key node">ran</span>'
        '<span class="key match">matches the search</span></div>'
    )
    return render(
        '<section class="card wide">{cov}</section>{form}{found}'
        '<section class="card wide" aria-labelledby="h-pic"><h2 id="h-pic">What ran '
        '<span class="hint">({shown} of {obs} observed node(s), {edges} confirmed edge(s); '
        "roots, matches, then the most hit)</span></h2>{legend}"
        '<div class="scroll picture">{svg}</div></section>'
        '<section class="card wide"><h2>Nodes drawn</h2><div class="scroll">'
        '<table class="list" id="nodes"><thead><tr><th scope="col">symbol</th>'
        '<th scope="col">purl</th><th scope="col">hits</th><th scope="col">root</th></tr>'
        "</thead><tbody>{rows}</tbody></table></div></section>",
        cov=coverage,
        form=form,
        found=found,
        shown=len(picture.nodes),
        obs=picture.observed_total,
        edges=picture.edges,
        legend=legend,
        svg=picture.svg,
        rows=rows or Markup('<tr><td colspan="4">nothing ran yet</td></tr>'),
    )


# -- verdicts, unknowns, VEX ----------------------------------------------------------------
_STATE_KIND = {"CR": "bad", "RO": "bad", "X": "warn", "SR": "warn", "RU": "muted", "U": "muted"}


def _state(state: str) -> Markup:
    return render(
        '<span class="badge {k}" title="{t}">{s}</span>',
        k=_STATE_KIND.get(state, "ok"),
        t=STATE_MEANING.get(state, ""),
        s=state,
    )


def _list(items: Sequence[object], *, ordered: bool = False, mono: bool = True) -> Markup:
    if not items:
        return Markup("—")
    tag = "ol" if ordered else "ul"
    return render(
        '<{tag} class="{c}">{items}</{tag}>',
        tag=Markup(tag),
        c="mono compact" if mono else "compact",
        items=join(render("<li>{i}</li>", i=i) for i in items),
    )


def _verdict_evidence(v: StoredVerdict) -> Markup:
    body = v.body
    given_runtime, given_window = body.get("runtime"), body.get("window")
    runtime: Mapping[str, Any] = given_runtime if isinstance(given_runtime, Mapping) else {}
    window: Mapping[str, Any] = given_window if isinstance(given_window, Mapping) else {}
    path = body.get("path_display") or body.get("path") or []
    ingests = [
        render('<a href="/ui/ingests/{i}">{i}</a>', i=i) for i in runtime.get("ingest_ids") or []
    ]
    return _dl(
        [
            ("path from a root", _list(list(path), ordered=True)),
            (
                "runtime",
                f"{runtime.get('hits', 0)} hit(s), first {runtime.get('first_seen') or '—'}, "
                f"last {runtime.get('last_seen') or '—'}",
            ),
            ("ingests", _list(ingests)),
            ("window", f"{window.get('start') or '—'} … {window.get('end') or '—'}"),
            ("evidence digests", _list(list(body.get("evidence_digests") or []))),
            ("fixed in", ", ".join(body.get("fixed") or []) or "—"),
            ("graph", render('<span class="mono">{g}</span>', g=v.graph_hash)),
            ("catalog", render('<span class="mono">{g}</span>', g=v.catalog_digest)),
            ("evaluation", render('<span class="mono">{g}</span>', g=v.evaluation_id)),
            (
                "history",
                render(
                    '<a href="{h}">how this verdict changed</a>',
                    h=query(
                        "/ui/verdicts/history",
                        graph_hash=v.graph_hash,
                        vuln_id=v.vuln_id,
                        symbol=v.symbol,
                    ),
                ),
            ),
        ]
    )


_VEX_LOOKUP = Markup(
    '<form method="get" action="/ui/vex" class="filters" role="search">'
    '<label for="vex-id">VEX document id</label>'
    '<input id="vex-id" name="id" spellcheck="false" placeholder="from stella vex export '
    'or the evaluation">'
    '<button type="submit">Open</button></form>'
)


def verdicts_page(
    page: Page[StoredVerdict], *, graph_hash: str, vuln_id: str, state: str, after: str
) -> Markup:
    options = _options(STATE_MEANING, state)
    form = render(
        '<form method="get" action="/ui/verdicts" class="filters" role="search">'
        '<label for="f-graph">Graph hash</label>'
        '<input id="f-graph" name="graph_hash" value="{g}" spellcheck="false">'
        '<label for="f-vuln">Vulnerability</label>'
        '<input id="f-vuln" name="vuln_id" value="{v}" spellcheck="false">'
        '<label for="f-state">State</label><select id="f-state" name="state">{o}</select>'
        '<button type="submit">Filter</button></form>',
        g=graph_hash,
        v=vuln_id,
        o=options,
    )
    rows = join(
        render(
            '<tr class="verdict"><td class="mono">{vuln}{aliases}</td><td class="mono">{pkg}</td>'
            '<td class="mono">{sym}</td><td>{state}</td><td>{conf}</td><td>{hits}</td>'
            '<td>{changed}</td></tr><tr class="evidence"><td colspan="7"><details>'
            "<summary>evidence of {vuln}: path, runtime, digests</summary>{ev}</details></td></tr>",
            vuln=v.vuln_id,
            aliases=render(
                '<br><span class="hint">{a}</span>', a=", ".join(v.body.get("aliases") or [])
            )
            if v.body.get("aliases")
            else Markup(""),
            pkg=v.package,
            sym=v.symbol,
            state=_state(v.state),
            conf=v.body.get("confidence", "—"),
            hits=(v.body.get("runtime") or {}).get("hits", 0)
            if isinstance(v.body.get("runtime"), Mapping)
            else 0,
            changed=_time(v.changed_at),
            ev=_verdict_evidence(v),
        )
        for v in page.items
    )
    table = _list_table(
        "verdicts",
        ("vulnerability", "package", "symbol", "state", "confidence", "hits", "state since"),
        rows,
        Markup("no verdicts: evaluate a catalog first (<code>stella reach evaluate</code>)"),
    )
    legend = render(
        '<details class="card"><summary>What the states mean</summary>{d}</details>',
        d=_dl([(k, v) for k, v in STATE_MEANING.items()]),
    )
    vex = render('{f}<p><a href="/ui/vex">All VEX documents</a></p>', f=_VEX_LOOKUP)
    pager = _pager("/ui/verdicts", page, after, graph_hash=graph_hash, vuln_id=vuln_id, state=state)
    return render("{f}{vex}{legend}{t}{p}", f=form, vex=vex, legend=legend, t=table, p=pager)


def history_page(
    page: Page[VerdictChange], *, graph_hash: str, vuln_id: str, symbol: str, after: str
) -> Markup:
    rows = join(
        render(
            '<tr><td>{at}</td><td class="mono">{vuln}</td><td class="mono">{sym}</td>'
            '<td>{frm}</td><td>{to}</td><td class="mono">{ev}</td></tr>',
            at=_time(c.at),
            vuln=c.vuln_id,
            sym=c.symbol,
            frm=_state(c.from_state) if c.from_state else "first",
            to=_state(c.to_state),
            ev=c.event_id or "—",
        )
        for c in page.items
    )
    columns = ("at", "vulnerability", "symbol", "from", "to", "reach.verdict.changed event")
    table = _list_table("history", columns, rows, "no changes")
    pager = _pager(
        "/ui/verdicts/history", page, after, graph_hash=graph_hash, vuln_id=vuln_id, symbol=symbol
    )
    back = Markup('<p><a href="/ui/verdicts">All verdicts</a></p>')
    return render("{b}{t}{p}", b=back, t=table, p=pager)


def unknowns_page(page: Page[StoredUnknown], *, graph_hash: str, after: str) -> Markup:
    form = render(
        '<form method="get" action="/ui/unknowns" class="filters" role="search">'
        '<label for="f-graph">Graph hash</label>'
        '<input id="f-graph" name="graph_hash" value="{g}" spellcheck="false">'
        '<button type="submit">Filter</button></form>',
        g=graph_hash,
    )
    rows = join(
        render(
            '<tr><td>{kind}</td><td class="mono">{sym}</td><td class="mono">{purl}</td>'
            '<td class="mono">{vuln}</td><td>{detail}</td><td>{ingests}</td>'
            '<td class="mono">{graph}</td></tr>',
            kind=u.kind,
            sym=u.body.get("symbol", "—"),
            purl=u.body.get("purl") or "—",
            vuln=u.body.get("vuln_id") or "—",
            detail=u.body.get("detail", ""),
            ingests=_list(
                [
                    render('<a href="/ui/ingests/{i}">{i}</a>', i=i)
                    for i in u.body.get("ingest_ids") or []
                ]
            ),
            graph=_short(u.graph_hash),
        )
        for u in page.items
    )
    columns = ("kind", "symbol", "purl", "vulnerability", "why", "ingests", "graph")
    table = _list_table("unknowns", columns, rows, "no unknowns")
    hint = Markup(
        '<p class="hint">Where the evidence is too thin to trust a not_affected: unmapped '
        "symbols, unexpected edges, targets in no scanned code, disagreements (latest "
        "evaluation of each graph and catalog).</p>"
    )
    pager = _pager("/ui/unknowns", page, after, graph_hash=graph_hash)
    return render("{h}{f}{t}{p}", h=hint, f=form, t=table, p=pager)


def vex_list_page(page: Page[VexRecord], *, after: str) -> Markup:
    """The tenant's VEX documents (one page, newest first), then the lookup by id."""
    rows = join(
        render(
            '<tr><td class="mono"><a href="/ui/vex/{id}">{id}</a></td><td>{fmt}</td>'
            '<td>{at}</td><td class="mono" title="{g}">{gs}</td>'
            '<td class="mono" title="{c}">{cs}</td><td class="mono" title="{h}">{hs}</td></tr>',
            id=v.vex_id,
            fmt=v.format,
            at=_time(v.created_at),
            g=v.graph_hash,
            gs=_short(v.graph_hash),
            c=v.catalog_digest,
            cs=_short(v.catalog_digest),
            h=v.sha256,
            hs=v.sha256[:16] + "…",
        )
        for v in page.items
    )
    table = _list_table(
        "vex-documents",
        ("id", "format", "created", "graph", "catalog", "sha256"),
        rows,
        Markup("no VEX documents: evaluate a catalog with <code>--vex openvex</code> first"),
    )
    pager = _pager("/ui/vex", page, after)
    return render("{t}{p}{f}", t=table, p=pager, f=_VEX_LOOKUP)


def vex_page(view: VexView) -> Markup:
    r = view.record
    ok, message = view.signature
    same = view.document_sha256 == r.sha256
    base = f"/ui/vex/{r.vex_id}"
    facts = _dl(
        [
            ("format", r.format),
            ("product", r.product or "—"),
            ("graph", render('<span class="mono">{g}</span>', g=r.graph_hash)),
            ("catalog", render('<span class="mono">{g}</span>', g=r.catalog_digest)),
            ("evaluation", render('<span class="mono">{g}</span>', g=r.evaluation_id)),
            ("created", _time(r.created_at)),
            (
                "document sha256",
                render(
                    '<span class="mono">{d}</span> {f}',
                    d=view.document_sha256,
                    f=_flag("matches the record", "ok") if same else _flag("differs", "bad"),
                ),
            ),
            (
                "signature",
                render(
                    "{f} {m}", f=_flag("ok" if ok else "failed", "ok" if ok else "bad"), m=message
                ),
            ),
        ]
    )
    links = render(
        '<p><a class="button" href="{b}/document" download>Download the {fmt} document</a> '
        '<a class="button" href="{b}/dsse" download>Download its DSSE envelope</a> '
        '<a class="button" href="{b}/bundle" download>Download the evidence bundle</a></p>'
        '<p class="hint">The same bytes as <code>GET /api/v1/vex/{id}</code>, '
        "<code>/dsse</code> and <code>/bundle</code>; check them offline with "
        "<code>stella vex verify DOCUMENT --key service.pem</code> (the key from "
        "<code>signals keys export-service</code>).</p>",
        b=base,
        fmt=r.format,
        id=r.vex_id,
    )
    return render(
        '<p class="mono">{id}</p><section class="card wide">{facts}</section>'
        '<section class="card wide" aria-labelledby="h-dl"><h2 id="h-dl">Downloads</h2>{links}'
        "</section>",
        id=r.vex_id,
        facts=facts,
        links=links,
    )
