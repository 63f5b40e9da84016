#!/usr/bin/env bash
# The end-to-end example of docs/example.md, step by step: the shop's own environment, its
# call graph, a Signals server, the shop run under the probe, real requests, and what the
# server then knows. `make example` runs it; tests/examples/test_shop.py runs it against a
# test server.
#
# Environment (all optional):
#   STELLA_BIN      directory of the `stella` and `signals` scripts (default: .venv/bin)
#   EXAMPLE_WORK    work directory (default: .cache/example): graph, windows and the
#                   server's data, made anew on each run
#   EXAMPLE_VENV    the shop's environment, kept between runs (default: EXAMPLE_WORK/venv)
#   SIGNALS_URL     a running server to use, with SIGNALS_TENANT, SIGNALS_LAB_TENANT and
#                   SIGNALS_TOKEN_FILE (a token allowing both tenants) (default: start
#                   `signals serve` on a free loopback port, stopped at exit)
#   SIGNALS_DATA_DIR  with SIGNALS_URL: that server's data directory, for `signals keys
#                   export-service` (default: the public key from GET /api/v1/keys/service)
#
# Two tenants: `shop` (production: targeted windows, the ones a verdict may rely on) and
# `shop-lab` (discovery windows, for checking the graph: they cannot say that a target did not
# run, so they are kept out of the production tenant's evidence).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BIN=${STELLA_BIN:-$ROOT/.venv/bin}
WORK=${EXAMPLE_WORK:-$ROOT/.cache/example}
SHOP=examples/shop
VENV=${EXAMPLE_VENV:-$WORK/venv}
PY=$VENV/bin/python
mkdir -p "$WORK" "$(dirname "$VENV")"

step() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
free_port() { "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # URL: until it answers (60 s)
    for _ in $(seq 600); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "walkthrough: $1 did not answer" >&2
    return 1
}

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# 1. The shop's own environment: its pinned dependencies and the probe, nothing else
#    (examples/shop/venv.sh: made once, rebuilt when requirements.txt or the probe change).
step "1. the shop's environment ($VENV)"
bash "$SHOP/venv.sh" "$VENV" "$BIN/python"
"$PY" -c 'import importlib.metadata as m; print(*sorted(d.metadata["Name"] + "==" + d.version for d in m.distributions()))'

# 2. Its call graph: the shop's code and every distribution of its environment.
step "2. scan"
show "$BIN/stella" graph scan "$SHOP" --include-installed --python "$PY" --out "$WORK/graph.json"
GRAPH=$("$BIN/stella" graph hash "$WORK/graph.json")
echo "graph hash: $GRAPH"

# 3. A Signals server (or the one given), a token, and the graph posted to it.
step "3. the server"
if [ -n "${SIGNALS_URL:-}" ]; then
    URL=$SIGNALS_URL TENANT=${SIGNALS_TENANT:?} LAB=${SIGNALS_LAB_TENANT:?}
    DATA=${SIGNALS_DATA_DIR:-}
    TOKEN_FILE=${SIGNALS_TOKEN_FILE:?}
else
    DATA=$WORK/data TENANT=shop LAB=shop-lab TOKEN_FILE=$WORK/token
    rm -rf "$DATA"
    show "$BIN/signals" tokens create --data-dir "$DATA" --tenant "$TENANT" --tenant "$LAB" \
        --scope signals:read --scope signals:write | tail -n 1 > "$TOKEN_FILE"
    PORT=$(free_port)
    URL=http://127.0.0.1:$PORT
    "$BIN/signals" serve --data-dir "$DATA" --port "$PORT" > "$WORK/server.log" 2>&1 &
    PIDS+=($!)
    wait_for "$URL/readyz"
    echo "signals serve on $URL (log: $WORK/server.log)"
fi
AUTH=(-H "Authorization: Bearer $(cat "$TOKEN_FILE")" -H "X-Stella-Tenant: $TENANT")
for tenant in "$TENANT" "$LAB"; do
    curl -sS --fail-with-body -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
        -H "X-Stella-Tenant: $tenant" -H 'Content-Type: application/json' \
        --data-binary @"$WORK/graph.json" "$URL/api/v1/graphs" \
        | T=$tenant "$BIN/python" -c 'import json, os, sys; g = json.load(sys.stdin); print("graph posted to", os.environ["T"] + ":", g["graph_hash"], g["nodes"], "nodes", g["edges"], "edges")'
done

# 4-6. The shop under the probe, uploading each window to the server with its probe manifest;
#      real requests to its routes; then SIGTERM, on which the probe writes the last window
#      and uploads it before the process ends.
run_shop() {  # MODE TENANT OUT [PROBE OPTIONS...]
    local mode=$1 tenant=$2 out=$3 port pid
    shift 3
    port=$(free_port)
    rm -rf "$out"
    printf '$ %s\n' "$PY -m stella_probe run --mode $mode ${*:+$* }--out $out --server $URL --tenant $tenant --token-file $TOKEN_FILE --graph-hash $GRAPH -- $SHOP/app.py --port $port"
    "$PY" -m stella_probe run --mode "$mode" "$@" --out "$out" \
        --server "$URL" --tenant "$tenant" --token-file "$TOKEN_FILE" --graph-hash "$GRAPH" \
        -- "$SHOP/app.py" --port "$port" >> "$WORK/shop.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    SHOP_URL=http://127.0.0.1:$port
    wait_for "$SHOP_URL/"
    if [ "$mode" = targeted ]; then
        # A target may be said not to have run only in a window it was watched for whole
        # (`targets_watched_whole_window`): the shop's modules loaded during the first
        # window, so the requests go to the next one, as in a service that runs for days.
        for _ in $(seq 600); do compgen -G "$out/window-*" > /dev/null && break; sleep 0.1; done
        echo "first window written (start-up): $(basename "$(compgen -G "$out/window-*" | head -n 1)")"
    fi
    # /receipts/ calls werkzeug.utils.secure_filename; nothing calls jinja2.utils.urlize.
    step "requests ($mode)"
    show curl -sS "$SHOP_URL/products/2"; echo
    CART=$(curl -sS -H 'Content-Type: application/json' -d '{"items": [1, 3]}' "$SHOP_URL/cart")
    echo "POST /cart -> $CART"
    TOKEN=$(printf '%s' "$CART" | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["token"])')
    show curl -sS "$SHOP_URL/cart/$TOKEN"; echo
    show curl -sS --path-as-is "$SHOP_URL/receipts/../../etc/My%20Receipt.pdf"; echo
    curl -sS -o /dev/null -w 'GET / -> %{http_code}\n' "$SHOP_URL/"
    step "stop the shop ($mode): SIGTERM"
    kill -TERM "$pid"
    wait "$pid" || true
    for window in "$out"/window-*; do
        echo "$(basename "$window"): $(ls "$window" | tr '\n' ' ')"
    done
}

step "4. the shop under the probe (targeted: it watches the catalog's two functions)"
: > "$WORK/shop.log"
run_shop targeted "$TENANT" "$WORK/windows" --targets "$SHOP/targets.txt" --window 2

# 7. What the server now knows.
step "7. what the server knows"
curl -sS --fail-with-body "${AUTH[@]}" "$URL/api/v1/ingests?graph_hash=$GRAPH" > "$WORK/ingests.json"
curl -sS --fail-with-body "${AUTH[@]}" "$URL/api/v1/graphs/$GRAPH/runtime" > "$WORK/runtime.json"
"$BIN/python" - "$WORK/ingests.json" "$WORK/runtime.json" "$WORK/graph.json" "$SHOP/targets.txt" <<'EOF'
import json, sys
ingests, runtime, graph = (json.load(open(p)) for p in sys.argv[1:4])
for receipt in ingests["items"]:
    print(f"ingest {receipt['ingest_id']} {receipt['status']}, {receipt['counts']['records']} records,"
          f" probe manifest {receipt.get('probe_manifest_digest')}")
display = {n["id"]: n.get("display", n["id"]) for n in graph["nodes"]}
seen = {display[row["node"]]: row for row in runtime["items"]}
targets = [line.split("#")[0].strip() for line in open(sys.argv[4])]
for target in filter(None, targets):
    name = target.replace(":", ".")
    row = seen.get(name)
    print(f"{name}: " + (f"observed, {row['hits']} hit(s), ingests {row['ingest_ids']}"
                         if row else "not observed"))
EOF
TRACE=$(ls "$WORK"/windows/window-*/runtime-trace.ndjson.gz | head -n 1)
show "$BIN/stella" graph verify --runtime "$TRACE" --graph "$GRAPH" --server "$URL" \
    --tenant "$TENANT" --token-file "$TOKEN_FILE"

# 8. The same requests in discovery mode (every call, with its caller: for building and
#    checking graphs, not for production): the caller → callee pairs the graph lacks.
step "8. discovery mode, in the lab tenant: the edges seen at run time"
# The catalog evaluated on the lab tenant first, with no evidence yet: that registers the
# (graph, catalog) pair, so the server evaluates it again in the background once the discovery
# window is ingested (step 12).
CATALOG=(--graph "$GRAPH" --catalog "$SHOP/catalog.json")
LAB_SERVER=(--server "$URL" --tenant "$LAB" --token-file "$TOKEN_FILE")
show "$BIN/stella" reach evaluate "${CATALOG[@]}" "${LAB_SERVER[@]}"
run_shop discovery "$LAB" "$WORK/discovery"
step "9. edges the graph does not have"
"$BIN/python" - "$URL" "$LAB" "$TOKEN_FILE" "$GRAPH" "$WORK/graph.json" <<'EOF'
import json, sys, urllib.parse, urllib.request
url, tenant, token_file, graph_hash, graph_file = sys.argv[1:6]
headers = {"Authorization": "Bearer " + open(token_file).read().strip(), "X-Stella-Tenant": tenant}

def edges(in_graph):
    """Every observed edge, page by page (GET .../runtime?view=edges)."""
    query = {"view": "edges", "in_graph": in_graph, "page_size": 500}
    while True:
        address = f"{url}/api/v1/graphs/{graph_hash}/runtime?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(urllib.request.Request(address, headers=headers)) as answer:
            page = json.load(answer)
        yield from page["items"]
        if not page["next_page_token"]:
            return
        query["page_token"] = page["next_page_token"]

display = {n["id"]: n.get("display", n["id"]) for n in json.load(open(graph_file))["nodes"]}
known, unexpected = list(edges("true")), list(edges("false"))
print(f"{len(known)} observed edges are in the graph, {len(unexpected)} are not; calls into the shop's own code among them:")
for edge in unexpected:
    if display.get(edge["callee_node"], "").startswith("app."):
        print(f"  {display.get(edge['caller_node'], edge['caller_symbol_id'])} -> "
              f"{display[edge['callee_node']]}  x{edge['count']}")
EOF

# 10. The verdicts (SPEC §15) of the catalog's two advisories, on the production tenant's
#     evidence, computed by the server; then its signed VEX documents, checked offline with
#     the service public key, and the Evidence Locker bundle of the OpenVEX one.
SERVER=(--server "$URL" --tenant "$TENANT" --token-file "$TOKEN_FILE")
step "10. the verdicts (production tenant, on the server)"
show "$BIN/stella" reach evaluate "${CATALOG[@]}" "${SERVER[@]}"
step "11. the signed VEX documents"
show "$BIN/stella" vex export "${CATALOG[@]}" --format openvex --product pkg:generic/shop \
    --out "$WORK/shop.openvex.json" "${SERVER[@]}" | tee "$WORK/export.txt"
show "$BIN/stella" vex export "${CATALOG[@]}" --format cyclonedx --product pkg:generic/shop \
    --out "$WORK/shop.cdx.json" "${SERVER[@]}"
if [ -n "${DATA:-}" ]; then
    show "$BIN/signals" keys export-service --data-dir "$DATA" --out "$WORK/service.pub.pem"
else  # a server of someone else's: its public key, as any client gets it
    curl -sS --fail-with-body "${AUTH[@]}" "$URL/api/v1/keys/service" | "$BIN/python" -c '
import json, sys
print(next(k["public_key_pem"] for k in json.load(sys.stdin)["keys"] if k["status"] == "current"), end="")' \
        > "$WORK/service.pub.pem"
fi
show "$BIN/stella" vex verify "$WORK/shop.openvex.json" --key "$WORK/service.pub.pem"
show "$BIN/stella" vex verify "$WORK/shop.cdx.json" --key "$WORK/service.pub.pem"
"$BIN/python" - "$WORK/shop.openvex.json" <<'EOF'
import json, sys
for s in json.load(open(sys.argv[1]))["statements"]:
    print(f"{s['vulnerability']['name']}: {s['status']}"
          + (f" ({s['justification']})" if "justification" in s else ""))
    for field in ("action_statement", "impact_statement", "status_notes"):
        if field in s:
            print(f"  {field}: {s[field]}")
EOF
VEX_ID=$(sed -n 's/^openvex document \([^ ]*\) .*/\1/p' "$WORK/export.txt")
curl -sS --fail-with-body "${AUTH[@]}" -o "$WORK/shop.openvex.bundle.tar.gz" \
    "$URL/api/v1/vex/$VEX_ID/bundle"
echo "bundle of $VEX_ID: $(tar -tzf "$WORK/shop.openvex.bundle.tar.gz" | LC_ALL=C sort | tr '\n' ' ')"

# 12. Change over time and where the evidence is too thin (issue 18 items 4 and 5). The
#     discovery window's ingest made the lab tenant's pair due: the server's background loop
#     (every orphans.retry_seconds, 5 s by default) evaluated it again, so secure_filename went
#     from SR (a static path, nothing seen yet) to CR, an event `reach.verdict.changed`. That
#     evaluation's unknowns are the runtime edges the graph lacks. The production tenant's
#     targeted evidence leaves no unknowns (targeted traces carry no callers).
step "12. the background re-evaluation and the unknowns"
for _ in $(seq 300); do
    "$BIN/stella" reach history --graph "$GRAPH" --vuln EXAMPLE-2026-0001 "${LAB_SERVER[@]}" \
        --json | "$BIN/python" -c 'import json, sys; sys.exit(len(json.load(sys.stdin)["items"]) < 2)' \
        && break
    sleep 0.2
done
show "$BIN/stella" reach history --graph "$GRAPH" --vuln EXAMPLE-2026-0001 "${LAB_SERVER[@]}"
show "$BIN/stella" reach unknowns --graph "$GRAPH" "${SERVER[@]}"
"$BIN/stella" reach unknowns --graph "$GRAPH" "${LAB_SERVER[@]}" --json > "$WORK/lab-unknowns.json"
"$BIN/python" - "$WORK/lab-unknowns.json" "$WORK/graph.json" <<'EOF'
import collections, json, sys
items = json.load(open(sys.argv[1]))["items"]
display = {n.get("symbol_id", n["id"]): n.get("display", n["id"]) for n in json.load(open(sys.argv[2]))["nodes"]}
print("lab unknowns:", dict(sorted(collections.Counter(u["kind"] for u in items).items())))
for u in items:
    caller, _, callee = u["detail"].partition(": ")[0].partition(" -> ")
    if u["kind"] == "unexpected_edge" and display.get(callee, "").startswith("app."):
        print(f"  unexpected_edge {display.get(caller, caller)} -> {display[callee]}")
EOF
