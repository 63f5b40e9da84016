"""The observed part of a call graph as an SVG picture, bounded (pure).

Only nodes that ran are drawn: the graph's roots among them, the nodes matching a search,
then the most hit, up to `MAX_NODES`; an edge is drawn when both its ends ran (an edge the
runtime confirmed). Columns are the distance from a source (a drawn node no drawn edge
enters: a root or the top of an island), capped at `MAX_COLUMNS`. Every label and title is
escaped; presentation is by CSS classes (the console's stylesheet), no inline style.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from stella_signals.console._html import Markup, join, render
from stella_signals.graph import GraphIndex

__all__ = ["MAX_NODES", "Picture", "PictureNode", "draw_observed"]

MAX_NODES = 40
MAX_COLUMNS = 6
_COL_W, _ROW_H, _BOX_W, _BOX_H, _PAD = 250, 34, 220, 24, 12
_LABEL_CHARS = 27


@dataclass(frozen=True, slots=True)
class PictureNode:
    number: int
    node_id: str
    symbol: str
    purl: str | None
    hits: int
    root: bool
    match: bool


@dataclass(frozen=True, slots=True)
class Picture:
    svg: Markup
    nodes: tuple[PictureNode, ...]
    edges: int
    observed_total: int
    matches_total: int


def _matches(query: str, symbol: str, purl: str | None) -> bool:
    q = query.casefold()
    return q in symbol.casefold() or (purl is not None and q in purl.casefold())


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else "…" + text[-(_LABEL_CHARS - 1) :]


def draw_observed(
    index: GraphIndex,
    hits: Mapping[str, int],
    *,
    query: str = "",
    link: str = "",
    max_nodes: int = MAX_NODES,
) -> Picture:
    """The picture of the nodes of ``index`` that ran (``hits``: node id → hits).
    ``link`` is the page URL each node links to, with ``?q=<symbol>`` added."""
    roots = set(index.roots)
    observed = [n for n, node_id in enumerate(index.node_ids) if node_id in hits]
    by_hits = sorted(observed, key=lambda n: (-hits[index.node_ids[n]], index.node_ids[n]))
    matching = (
        [n for n in by_hits if _matches(query, index.node_symbols[n], index.node_purls[n])]
        if query
        else []
    )
    chosen: dict[int, None] = {}
    for group in ([n for n in by_hits if n in roots][: max_nodes // 4], matching, by_hits):
        for number in group:
            if len(chosen) >= max_nodes:
                break
            chosen.setdefault(number)
    edges: list[tuple[int, int]] = []
    for a, b in zip(index.edge_from, index.edge_to, strict=True):
        if a in chosen and b in chosen and a != b:
            edges.append((a, b))
    depth = _depths(list(chosen), edges)
    columns: dict[int, list[int]] = {}
    for number in chosen:
        columns.setdefault(depth[number], []).append(number)
    where: dict[int, tuple[int, int]] = {}
    for col, numbers in sorted(columns.items()):
        for row, number in enumerate(numbers):
            where[number] = (_PAD + col * _COL_W, _PAD + row * _ROW_H)
    width = _PAD * 2 + (max(columns, default=0) + 1) * _COL_W - (_COL_W - _BOX_W)
    height = _PAD * 2 + max((len(v) for v in columns.values()), default=1) * _ROW_H
    matched = set(matching)
    nodes = tuple(
        PictureNode(
            number=n,
            node_id=index.node_ids[n],
            symbol=index.node_symbols[n],
            purl=index.node_purls[n],
            hits=hits[index.node_ids[n]],
            root=n in roots,
            match=n in matched,
        )
        for n in chosen
    )
    parts: list[Markup] = []
    for a, b in edges:
        (xa, ya), (xb, yb) = where[a], where[b]
        x1, y1, x2, y2 = xa + _BOX_W, ya + _BOX_H // 2, xb, yb + _BOX_H // 2
        if x2 <= x1:  # same column or backwards: loop around the right side
            x2, bend = xb + _BOX_W, _COL_W // 3
            d = f"M{x1},{y1} C{x1 + bend},{y1} {x2 + bend},{y2} {x2},{y2}"
        else:
            mid = (x1 + x2) // 2
            d = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
        parts.append(render('<path class="edge" d="{d}" marker-end="url(#arrow)"/>', d=d))
    for node in nodes:
        x, y = where[node.number]
        classes = " ".join(
            c for c, on in (("node", True), ("root", node.root), ("match", node.match)) if on
        )
        title = f"{node.symbol}\n{node.purl or '(no purl)'}\n{node.hits} hit(s)" + (
            "\nroot" if node.root else ""
        )
        href = f"{link}?q={quote(node.symbol, safe='')}" if link else None
        box = render(
            '<g class="{classes}"><title>{title}</title>'
            '<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4"/>'
            '<text x="{tx}" y="{ty}">{label}</text></g>',
            classes=classes,
            title=title,
            x=x,
            y=y,
            w=_BOX_W,
            h=_BOX_H,
            tx=x + 8,
            ty=y + 16,
            label=_short(node.symbol),
        )
        parts.append(render('<a href="{href}">{box}</a>', href=href, box=box) if href else box)
    svg = render(
        '<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
        'role="img" aria-label="{label}"><defs><marker id="arrow" viewBox="0 0 10 10" '
        'refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path class="arrow" d="M0,0 L10,5 L0,10 z"/></marker></defs>{body}</svg>',
        w=width,
        h=height,
        label=f"{len(nodes)} observed node(s) and {len(edges)} confirmed edge(s)",
        body=join(parts),
    )
    return Picture(svg, nodes, len(edges), len(observed), len(matching))


def _depths(numbers: list[int], edges: list[tuple[int, int]]) -> dict[int, int]:
    entered = {b for _, b in edges}
    out: dict[int, list[int]] = {}
    for a, b in edges:
        out.setdefault(a, []).append(b)
    depth = {n: 0 for n in numbers if n not in entered}
    queue = deque(depth)
    while queue:
        a = queue.popleft()
        for b in out.get(a, ()):
            if b not in depth:
                depth[b] = min(depth[a] + 1, MAX_COLUMNS - 1)
                queue.append(b)
    for n in numbers:  # only in cycles: first column
        depth.setdefault(n, 0)
    return depth
