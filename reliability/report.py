"""Write docs/reliability.md from the results of the reliability runs (`make reliability`).

Reads ``fuzz/results/latest.json`` and ``reliability/results/*.json``; a run that has not
produced its file is reported as not run, never invented.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "reliability" / "results"
FUZZ = REPO / "fuzz" / "results" / "latest.json"
FINDINGS = REPO / "fuzz" / "FINDINGS.md"
OUT = REPO / "docs" / "reliability.md"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    )
    return done.stdout.strip() or "unknown"


def _not_run(what: str, command: str) -> list[str]:
    return [f"_Not run yet: `{command}` writes {what}._", ""]


def _summary(result: dict[str, Any]) -> list[str]:
    """One bullet per scalar figure of a result file."""
    return [
        f"- {key.replace('_', ' ')}: {value}"
        for key, value in result.items()
        if not isinstance(value, dict | list)
    ]


def fuzz_section() -> list[str]:
    lines = ["## 1. Parser fuzzing (atheris, libFuzzer)", ""]
    result = _load(FUZZ)
    if result is None:
        return lines + _not_run("fuzz/results/latest.json", "python fuzz/run.py")
    lines += [
        "| parser | inputs tried | seconds | crashes |",
        "|---|---:|---:|---:|",
    ]
    harnesses = result.get("harnesses", result)
    for name, h in sorted(harnesses.items()):
        if not isinstance(h, dict) or "inputs_tried" not in h:
            continue
        lines.append(f"| {name} | {h['inputs_tried']:,} | {h['seconds']} | {h['crashes']} |")
    lines.append("")
    if FINDINGS.is_file():
        lines += [
            "Crashes found and fixed, each kept as a regression input under "
            "`fuzz/regressions/` (replayed by `tests/fuzz/`):",
            "",
            *[
                line
                for line in FINDINGS.read_text().partition("Known and kept")[0].splitlines()
                if line.startswith("- ")
            ],
            "",
        ]
    lines += [
        "Hypothesis properties (run by `make test`): canonical JSON round trip and agreement "
        "with the `rfc8785` reference, graph hash invariance under reordering, hash-chain "
        "tamper detection, trace aggregation equal to a naive reference, and the fast trace "
        "and graph paths equal to their careful oracles.",
        "",
    ]
    return lines


def api_fuzz_section() -> list[str]:
    lines = ["## 2. API fuzzing (schemathesis against /openapi.json)", ""]
    result = _load(RESULTS / "api_fuzz.json")
    if result is None:
        return lines + _not_run(
            "reliability/results/api_fuzz.json", "python reliability/api_fuzz.py"
        )
    lines += _summary(result)
    for key, value in result.items():
        if (
            isinstance(value, dict)
            and value
            and all(not isinstance(v, dict) for v in value.values())
        ):
            lines.append(
                f"- {key.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in value.items())
            )
    return [*lines, ""]


def crash_section() -> list[str]:
    lines = ["## 3. Crash consistency (SIGKILL at random points)", ""]
    found = False
    for backend in ("embedded", "postgres-s3"):
        result = _load(RESULTS / f"crash-{backend}.json")
        if result is None:
            continue
        found = True
        server, offline, sync = result["server"], result["offline"], result["sync"]
        lines += [
            f"**{backend}.** `signals serve`: {server['rounds']} kill rounds; answers before "
            f"the kill {server['answered']}, {server['interrupted']} requests interrupted, "
            f"their retries answered {server['retried']}; at most "
            f"{server['unreferenced_blobs_max_between_rounds']} unreferenced blob(s) between "
            f"rounds, {server['final']['unreferenced_blobs']} after the retries; final state "
            f"{server['final']['accepted']} accepted ingests, {server['final']['events']} "
            f"events, chain {'verified' if server['final']['chain_ok'] else 'BROKEN'}; "
            f"violations: {len(server['violations'])}.",
            "",
            f"`signals-offline ingest-runtime`: {offline['rounds']} rounds, "
            f"{offline['outcomes']}; violations: {len(offline['violations'])}. "
            f"`signals-offline sync`: {sync['rounds']} rounds, {sync['killed_mid_sync']} "
            f"killed mid-push; {sync['imported_once']} of {sync['offline_events']} offline "
            f"events online, each exactly once; violations: {len(sync['violations'])}.",
            "",
        ]
    if not found:
        return lines + _not_run("reliability/results/crash-*.json", "python reliability/crash.py")
    lines += [
        "Checked after every restart (`reliability/state.py`): every accepted ingest has its "
        "signed receipt, its event in the chain, its blob and (when ingested) its facts; every "
        "ingest event names an ingested trace; the chain verifies. A kill between the blob's "
        "publication and the database commit leaves an *unreferenced* blob: no receipt, event "
        "or fact names it, and the retry of the same bytes adopts it.",
        "",
    ]
    return lines


def disk_section() -> list[str]:
    lines = ["## 4. Disk full", ""]
    result = _load(RESULTS / "disk-full.json")
    if result is None:
        return lines + _not_run(
            "reliability/results/disk-full.json", "python reliability/disk_full.py"
        )
    refusal = result.get("refusal", {})
    lines += [
        f"Data dir on a {result['filesystem_mib']} MiB tmpfs, filled to "
        f"{result.get('free_before_mib')} MiB free: {result.get('accepted_before_full')} "
        f"traces accepted, then refused with **{refusal.get('status')}** "
        f"`{refusal.get('content_type')}`, reason `{refusal.get('reason')}`, Retry-After "
        f'{refusal.get("retry_after")} s ("{refusal.get("detail")}"). Nothing of the refused '
        f"request was kept; reads answered {result.get('reads_while_full')} while the disk "
        f"was full; after freeing space the same bytes answered {result.get('after_freeing')}. "
        f"Violations: {len(result['violations'])}.",
        "",
    ]
    return lines


def load_section() -> list[str]:
    lines = ["## 5. Load and soak", ""]
    rows = []
    for backend in ("embedded", "postgres-s3"):
        r = _load(RESULTS / f"load-{backend}.json")
        if r is None:
            continue
        lat, rss = r["latency_ms"], r["rss_mib"]
        statuses = "; ".join(
            f"{kind} {', '.join(f'{k} x{v}' for k, v in counts.items())}"
            for kind, counts in r["statuses"].items()
        )
        rows.append(
            f"| {backend} | {r['clients']} | {r['seconds']} | {r['requests']:,} "
            f"({r['requests_per_s']}/s) | {statuses} | {r['five_xx']} | "
            f"{r['accepted'] - r['stored_accepted']} | {lat['p50']} / {lat['p95']} / "
            f"{lat['p99']} / {lat['max']} | {rss['first']} → {rss['middle_third_max']} → "
            f"{rss['last_third_max']} ({rss['growth_after_warmup']:+}) |"
        )
    if not rows:
        return lines + _not_run("reliability/results/load-*.json", "python reliability/load.py")
    return [
        *lines,
        "| deployment | clients | seconds | requests | answers by kind | 5xx | lost | "
        "latency ms p50 / p95 / p99 / max | server RSS MiB start → middle → end (growth) |",
        "|---|---:|---:|---:|---|---:|---:|---|---|",
        *rows,
        "",
        "Kinds: `new` traces (expected 201), `invalid` ones (400), `duplicate`s of accepted "
        "ones (200), `orphan`s for unknown graphs (202). Lost = answered 2xx but not stored "
        "whole. All on loopback, this 2-CPU VM also running the load generator.",
        "",
    ]


def authz_section() -> list[str]:
    lines = ["## 6. Authorisation matrix", ""]
    result = _load(RESULTS / "authz.json")
    if result is None:
        return lines + _not_run("reliability/results/authz.json", "python reliability/authz.py")
    lines += _summary(result)
    return [*lines, ""]


def bombs_section() -> list[str]:
    lines = ["## 7. Newline gzip bombs", ""]
    result = _load(RESULTS / "bombs.json")
    if result is None:
        return lines + _not_run("reliability/results/bombs.json", "python reliability/bombs.py")
    lines += [
        "| bomb | gzip bytes | parse_trace s | `stella trace validate` s (CPU s) "
        "| HTTP s (status, reason) |",
        "|---|---:|---:|---:|---|",
    ]
    for name, b in result["bombs"].items():
        http = b["http"]
        lines.append(
            f"| {name} | {b['compressed_bytes']:,} | {b['parse']['seconds']} | "
            f"{b['cli']['seconds']} ({b['cli'].get('cpu_seconds', '?')}), exit "
            f"{b['cli']['exit_code']} | {http['seconds']} "
            f"({http['status']}, `{http['reason']}`) |"
        )
    control = result["control"]
    message = next(iter(result["bombs"].values()))["parse"]["message"]
    lines += [
        "",
        f"Run at commit {result.get('commit', '?')}. Each bomb is refused by ratio "
        "(`max_compression_ratio`, reason `too_large`) at the first check past 1 MiB of "
        f'output: "{message}". '
        f"`stella trace validate` times include the interpreter's start-up, "
        f"{result['cli_startup_seconds']} s ({result.get('cli_startup_cpu_seconds', '?')} s "
        "CPU) for a one-record trace in the same run, on a VM shared with other jobs. Before "
        "issue 14 the same bombs took 31-53 s each (200 MiB inflated, then blank lines parsed "
        "one by one; 44.5 s for the 1 GiB one through `parse_trace` on this VM). "
        "Control: a 100,000-record trace "
        f"({control['compressed_bytes']:,} bytes, {control['ratio']}:1) is accepted "
        f"(parse {control['parse']['seconds']} s, HTTP {control['http']['status']} in "
        f"{control['http']['seconds']} s). Goal: under {result['goal_seconds']} s to refuse, "
        f"parse and HTTP; violations: {len(result['violations'])}.",
        "",
    ]
    return lines


def header_flood_section() -> list[str]:
    lines = ["## 8. Header flood (before authentication)", ""]
    r = _load(RESULTS / "header-flood.json")
    if r is None:
        return lines + _not_run(
            "reliability/results/header-flood.json", "python reliability/header_flood.py"
        )
    answers = ", ".join(f"{k} x{v}" for k, v in r["flood_answers"].items())
    lines += [
        f"`signals serve` (embedded default, default bounds) at commit {r['commit']}: "
        f"{r['flood_connections']} connections each sending an unfinished "
        f"{r['flood_header_mib_each']} MiB header at once; server RSS {r['rss_before_mib']} → "
        f"peak {r['rss_peak_mib']} → {r['rss_after_mib']} MiB, growth **{r['rss_growth_mib']} "
        f"MiB** (goal < {r['rss_growth_goal_mib']} MiB; issue 14 measured 170 → 328 MiB before "
        f"the bounds); each was answered ({answers}) once past 64 KiB. A complete 5 MB header: "
        f"**{r['status_complete_5mb_header']}** (was 200); 101 header fields: "
        f"**{r['status_too_many_fields']}**; a client trickling its header a byte every 0.1 s: "
        f"**{r['slow_client_status']}** after {r['slow_client_cut_after_seconds']} s "
        f"(`server.header_timeout_seconds` {r['header_timeout_seconds']}); with "
        f"{r['max_connections']} connections open, one more: "
        f"**{r['status_one_connection_too_many']}**. Goals met: {r['ok']}.",
        "",
    ]
    return lines


def main() -> None:
    body = [
        "# Reliability figures",
        "",
        f"Written by `reliability/report.py` on {datetime.now(UTC):%Y-%m-%d} at commit "
        f"{_commit()} (2-CPU VM) from the result files the runs of `make reliability` wrote; a "
        "section that names a commit was run again on its own at that commit. "
        "`make test` runs short passes of each (tests/fuzz, tests/api/test_api_fuzz.py, "
        "tests/api/test_authz_matrix.py, tests/reliability).",
        "",
        *fuzz_section(),
        *api_fuzz_section(),
        *crash_section(),
        *disk_section(),
        *load_section(),
        *authz_section(),
        *bombs_section(),
        *header_flood_section(),
    ]
    OUT.write_text("\n".join(body).rstrip() + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
