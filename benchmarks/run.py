"""`make bench`: trace validation speed against its floor and DuckDB, and peak memory.

For one 1 M-record gzip trace (the deterministic synth fixture), in one run:

* floor    — SHA-256 + gunzip (python-isal, the fastest available) + bare typed msgspec decode
  of every line, nothing else;
* checks   — the pure-Python parser with every limit and check but no aggregation (what the
  checks cost, and by difference what aggregating costs);
* ours     — `parse_trace` as installed: the compiled trace core (ADR 0008) with every limit,
  validation, duplicate-key proof, purl check and aggregation by (symbol_id, purl, container);
* python   — the same `parse_trace` on the pure-Python parser (``STELLA_PURE_PYTHON=1``);
* duckdb   — `read_json` with explicit columns + `GROUP BY`, threads=2;
* defects  — `ours` on the same trace with 1,000 defective lines spread through it, against
  `ours` on the clean trace compressed the same way (bad lines must cost only themselves).

Each is timed best-of-N in this process. Peak RSS of `parse_trace` is measured in a fresh
child process for 1 M and 10 M records. Results: `benchmarks/results/<stamp>.json`,
`benchmarks/results/latest.json`, and the table in `benchmarks/README.md`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from isal import igzip, isal_zlib

from stella_signals.limits import DEFAULT_LIMITS
from stella_signals.trace import Record, parse_trace, trace_core
from stella_signals.trace._parse import TraceParser
from stella_signals.trace._stream import StreamStats, decompressed_chunks, line_batches
from stella_signals.wiring import read_file_chunks
from stella_signals_dev.synth import (
    SYNTH_VERSION,
    SynthSpec,
    SynthSymbol,
    symbol_table,
    write_trace,
)

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RESULTS = HERE / "results"
README = HERE / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def fixture(records: int) -> Path:
    """The synth trace of ``records`` records (seed 1), generated once and cached."""
    WORK.mkdir(exist_ok=True)
    path = WORK / f"trace-{records}-synth{SYNTH_VERSION}.ndjson.gz"
    if not path.exists():
        partial = path.with_suffix(".partial")
        write_trace(partial, SynthSpec(records, seed=1, symbols=20_000, purls=400))
        partial.replace(path)
    return path


def big_graph(
    nodes: int, edges_per_node: int, *, seed: int = 7, symbols: tuple[SynthSymbol, ...] = ()
) -> Path:
    """A richgraph-v1 file of ``nodes`` nodes and ``nodes * edges_per_node`` edges, written
    streaming and cached. The first nodes take the synth symbols (so synth traces map)."""
    WORK.mkdir(exist_ok=True)
    path = WORK / f"graph-{nodes}-{edges_per_node}-{seed}-{len(symbols)}-synth{SYNTH_VERSION}.json"
    if path.exists():
        return path
    rng = random.Random(seed)  # noqa: S311 - fixture data, not security
    partial = path.with_suffix(".partial")
    with partial.open("w") as out:
        out.write('{"schema":"richgraph-v1","analyzer":{"name":"bench","version":"1"},"nodes":[')
        for i in range(nodes):
            if i < len(symbols) and symbols[i].node_symbol_id is not None:
                sym, purl = symbols[i].node_symbol_id, symbols[i].purl
                code = symbols[i].code_id
            else:
                sym, purl, code = f"sym:c:{i:x}", f"pkg:generic/lib{i % 997}@1.{i % 13}", None
            extra = f',"code_id":"{code}"' if code else ""
            out.write(
                ("," if i else "")
                + f'{{"id":"n{i}","symbol_id":"{sym}","lang":"c","kind":"function",'
                f'"purl":"{purl}","evidence":["static"]{extra}}}'
            )
        out.write('],"edges":[')
        first = True
        for i in range(nodes):
            for j in range(edges_per_node):
                target = rng.randrange(nodes)
                out.write(
                    ("" if first else ",")
                    + f'{{"from":"n{i}","to":"n{target}","kind":"call","confidence":0.{j + 5}}}'
                )
                first = False
        out.write('],"roots":[')
        out.write(
            ",".join(
                f'{{"id":"n{i}","phase":"runtime","source":"main"}}' for i in range(0, nodes, 1000)
            )
        )
        out.write("]}")
    partial.replace(path)
    return path


def child_measure(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints a JSON object; VmHWM is added."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve from the parent.
    tail = (
        "\nimport json as _j\nfrom pathlib import Path as _P\n"
        "_s = _P('/proc/self/status').read_text().splitlines()\n"
        "RESULT['peak_rss_mib'] = round(int(next(x.split()[1] for x in _s "
        "if x.startswith('VmHWM:'))) / 1024, 1)\n"
        "print(_j.dumps(RESULT))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code + tail, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


GRAPH_INDEX_CODE = """
import sys, time
from pathlib import Path
from stella_signals.graph import build_index, canonical_graph, parse_graph
start = time.perf_counter()
data = Path(sys.argv[1]).read_bytes()
graph = parse_graph(data)
parsed = time.perf_counter()
canonical = canonical_graph(graph)
hashed = time.perf_counter()
index = build_index(canonical.document, canonical.hash)
blob = index.to_bytes()
done = time.perf_counter()
RESULT = {"nodes": index.nodes_total, "edges": index.edges_total,
          "parse_s": round(parsed - start, 2), "canonical_hash_s": round(hashed - parsed, 2),
          "index_s": round(done - hashed, 2), "total_s": round(done - start, 2),
          "graph_bytes": len(data), "index_bytes": len(blob)}
"""

VERIFY_CODE = """
import sys, time
from pathlib import Path
from stella_signals.graph import build_index, canonical_graph, parse_graph, map_trace
from stella_signals.trace import parse_trace
from stella_signals.wiring import read_file_chunks
canonical = canonical_graph(parse_graph(Path(sys.argv[1]).read_bytes()))
index = build_index(canonical.document, canonical.hash)
start = time.perf_counter()
trace = parse_trace(read_file_chunks(Path(sys.argv[2])))
parsed = time.perf_counter()
report = map_trace(trace, index, graph_hash_ok=True)
done = time.perf_counter()
RESULT = {"records": report.records, "unique_symbols": report.unique_symbols,
          "mapped_symbols": report.mapped_symbols, "edges_confirmed": report.edges_confirmed,
          "parse_s": round(parsed - start, 3), "map_s": round(done - parsed, 3),
          "total_s": round(done - start, 3),
          "records_per_s": round(report.records / (done - start)),
          "map_records_per_s": round(report.records / (done - parsed))}
"""


def floor(path: Path) -> int:
    decode = msgspec.json.Decoder(Record).decode
    hasher = hashlib.sha256()
    inflater = isal_zlib.decompressobj(wbits=31)
    carry = b""
    records = 0
    for chunk in read_file_chunks(path):
        hasher.update(chunk)
        data = carry + inflater.decompress(chunk)
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        lines = data[:cut].split(b"\n")
        lines.pop()
        records += len(list(map(decode, lines)))
    return records


class _Unaggregated(TraceParser):
    """The parser with every check but without aggregation: what aggregating costs."""

    def _aggregate(self, records: Sequence[Any]) -> int:
        self.records += len(records)
        return len(records)


def checks(path: Path) -> int:
    stats = StreamStats()
    parser = _Unaggregated(DEFAULT_LIMITS, None)
    chunks = decompressed_chunks(read_file_chunks(path), stats, DEFAULT_LIMITS)
    for batch in line_batches(chunks, stats, DEFAULT_LIMITS):
        parser.feed(batch)
    assert parser.error_count == 0
    return parser.records


def ours(path: Path) -> int:
    report = parse_trace(read_file_chunks(path))
    assert report.valid, report.errors[:3]
    return report.records


@contextlib.contextmanager
def core(name: str) -> Iterator[None]:
    """`parse_trace` on the parser ``name`` ("compiled" or "python") inside the block."""
    before = os.environ.get("STELLA_PURE_PYTHON")
    os.environ["STELLA_PURE_PYTHON"] = "1" if name == "python" else "0"
    try:
        assert trace_core() == name, f"the {name} trace parser is not available"
        yield
    finally:
        if before is None:
            del os.environ["STELLA_PURE_PYTHON"]
        else:
            os.environ["STELLA_PURE_PYTHON"] = before


def python_parser(path: Path) -> int:
    with core("python"):
        return ours(path)


#: One of each kind, in turn: a careful-path diagnostic each (bad JSON, a duplicate key, a
#: wrong type, a naive timestamp).
DEFECTS = (
    b'{"symbol_id": "s", "purl": "pkg:unknown"',
    b'{"symbol_id":"s","symbol_id":"t","purl":"pkg:unknown","timestamp":"2026-01-01T00:00:00Z",'
    b'"count":1,"pid":1,"container":"c"}',
    b'{"symbol_id":"s","purl":"pkg:unknown","timestamp":"2026-01-01T00:00:00Z","count":"1",'
    b'"pid":1,"container":"c"}',
    b'{"symbol_id":"s","purl":"pkg:unknown","timestamp":"2026-01-01T00:00:00","count":1,'
    b'"pid":1,"container":"c"}',
)


def defect_fixtures(path: Path, defects: int = 1000) -> tuple[Path, Path, int]:
    """(clean, defective, records of the defective one): ``path`` recompressed as is, and with
    ``defects`` lines spread evenly replaced by `DEFECTS`, both compressed the same way."""
    clean = WORK / f"{path.stem}.recompressed.gz"
    bad = WORK / f"{path.stem}.{defects}-defects.gz"
    lines = gzip_lines(path)
    step = len(lines) // defects
    if not (clean.exists() and bad.exists()):
        clean.write_bytes(igzip.compress(b"\n".join(lines) + b"\n", compresslevel=1))
        for i in range(defects):
            lines[i * step + step // 2] = DEFECTS[i % len(DEFECTS)]
        bad.write_bytes(igzip.compress(b"\n".join(lines) + b"\n", compresslevel=1))
    return clean, bad, len(lines) - defects


def gzip_lines(path: Path) -> list[bytes]:
    data = igzip.decompress(path.read_bytes())
    return data.rstrip(b"\n").split(b"\n")


def lenient(path: Path) -> int:
    """`parse_trace` as installed, for a trace that may be invalid: the records kept."""
    return parse_trace(read_file_chunks(path)).records


def duckdb_group_by(path: Path) -> int:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=2")
    query = """
        SELECT count(*) AS keys, sum(n) AS records FROM (
          SELECT symbol_id, purl, container, sum("count") AS hits,
                 min("timestamp") AS first_seen, max("timestamp") AS last_seen, count(*) AS n
          FROM read_json(?, format='newline_delimited', compression='gzip',
                columns={symbol_id: 'VARCHAR', purl: 'VARCHAR', "timestamp": 'TIMESTAMPTZ',
                         pid: 'BIGINT', container: 'VARCHAR', "count": 'BIGINT',
                         code_id: 'VARCHAR', process_name: 'VARCHAR'})
          GROUP BY ALL)
    """
    row = con.execute(query, [str(path)]).fetchone()
    assert row is not None
    return int(row[1])


def head_to_head(path: Path, rounds: int) -> dict[str, Any]:
    """Ours, the floor and DuckDB back to back, ``rounds`` times: each round's two ratios
    (on a shared machine the load moves between the best-of runs above), min and median."""
    per_round = []
    for _ in range(rounds):
        load = os.getloadavg()[0]
        seconds = {}
        for name, fn in (("floor", floor), ("ours", ours), ("duckdb", duckdb_group_by)):
            start = time.perf_counter()
            fn(path)
            seconds[name] = time.perf_counter() - start
        per_round.append(
            {
                "load_average": round(load, 2),
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
                "ours_vs_floor": round(seconds["floor"] / seconds["ours"], 3),
                "ours_vs_duckdb": round(seconds["duckdb"] / seconds["ours"], 3),
            }
        )
        print(f"round: {per_round[-1]}", flush=True)
    summary: dict[str, Any] = {"rounds": per_round}
    for ratio in ("ours_vs_floor", "ours_vs_duckdb"):
        values = sorted(r[ratio] for r in per_round)
        summary[ratio] = {"min": values[0], "median": values[len(values) // 2]}
    return summary


def best_of(fn: Callable[[Path], int], path: Path, repeat: int) -> tuple[float, int]:
    times = []
    records = 0
    for _ in range(repeat):
        start = time.perf_counter()
        records = fn(path)
        times.append(time.perf_counter() - start)
    return min(times), records


def peak_rss_mib(path: Path) -> float:
    """Peak RSS of a fresh process that parses ``path`` (imports included)."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve from the parent.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from stella_signals.trace import parse_trace\n"
        "from stella_signals.wiring import read_file_chunks\n"
        "r = parse_trace(read_file_chunks(Path(sys.argv[1])))\n"
        "assert r.valid\n"
        "status = Path('/proc/self/status').read_text().splitlines()\n"
        "print(next(x.split()[1] for x in status if x.startswith('VmHWM:')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip()) / 1024


def decompressed_size(path: Path) -> int:
    inflater = isal_zlib.decompressobj(wbits=31)
    return sum(len(inflater.decompress(c)) for c in read_file_chunks(path))


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


#: Benchmarks that run as their own script after the trace and HTTP ones, each with its
#: `--NAME/--no-NAME` switch (on by default): name → (script, what it does).
SEPARATE: dict[str, tuple[str, str]] = {
    "pyscan": ("pyscan.py", "run the Python scanner benchmark (benchmarks/pyscan.py)"),
    "probe": ("probe.py", "run the runtime probe benchmark (benchmarks/probe.py)"),
    "probe-hooks": (
        "probe_hooks.py",
        "compare discovery's hooks on Python 3.12+ (benchmarks/probe_hooks.py)",
    ),
    "console": ("console.py", "time the console's pages on the demo (benchmarks/console.py)"),
    "verdicts": ("verdicts.py", "run the verdict engine benchmark (benchmarks/verdicts.py)"),
    "cli-startup": ("cli_startup.py", "time the CLIs' start-up (benchmarks/cli_startup.py)"),
    "graph-import": (
        "graph_import.py",
        "time the whole graph import against issue 19's targets (benchmarks/graph_import.py)",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rss-records", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--graph-nodes", type=int, default=1_000_000)
    parser.add_argument("--verify-nodes", type=int, default=100_000)
    parser.add_argument("--http", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--clients", type=int, default=16)  # issue 19's small-ingest load
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--scaleout",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the HTTP benchmarks on PostgreSQL + S3 (SeaweedFS)",
    )
    for name, (_, what) in SEPARATE.items():
        parser.add_argument(
            f"--{name}",
            action=argparse.BooleanOptionalAction,
            default=True,
            help=f"also {what}",
        )
    args = parser.parse_args()

    path = fixture(args.records)
    size = path.stat().st_size
    plain = decompressed_size(path)
    speed: dict[str, Any] = {}
    parser_in_use = trace_core()
    runs = (
        ("floor", floor),
        ("checks", checks),
        ("ours", ours),
        ("python", python_parser),
        ("duckdb", duckdb_group_by),
    )
    load_before = os.getloadavg()[0]
    for name, fn in runs:
        seconds, records = best_of(fn, path, args.repeat)
        assert records == args.records, (name, records)
        speed[name] = {
            "seconds": round(seconds, 4),
            "records_per_s": round(records / seconds),
            "mb_per_s_decompressed": round(plain / seconds / 1e6, 1),
            "mb_per_s_compressed": round(size / seconds / 1e6, 1),
        }
        print(f"{name:7} {seconds:7.3f} s  {records / seconds / 1e6:6.2f} M records/s", flush=True)
    load_after = os.getloadavg()[0]
    rounds = head_to_head(path, args.repeat)
    clean, defective, kept = defect_fixtures(path)
    defects: dict[str, Any] = {}
    for name, fixture_path, expected in (
        ("clean", clean, args.records),
        ("defects", defective, kept),
    ):
        seconds, records = best_of(lenient, fixture_path, args.repeat)
        assert records == expected, (name, records, expected)
        defects[name] = {"seconds": round(seconds, 4), "records": records}
    defects["ratio"] = round(defects["defects"]["seconds"] / defects["clean"]["seconds"], 3)
    print(f"1,000 defective lines: {defects['ratio']}x the clean trace's time", flush=True)
    rss = {}
    for records in args.rss_records:
        rss[str(records)] = round(peak_rss_mib(fixture(records)), 1)
        print(f"peak RSS, {records} records: {rss[str(records)]} MiB", flush=True)

    graphs: dict[str, Any] = {}
    if args.graph_nodes:
        nodes = args.graph_nodes
        graphs["hash_index"] = child_measure(GRAPH_INDEX_CODE, str(big_graph(nodes, 5)))
        print(f"graph hash+index {nodes} nodes: {graphs['hash_index']}", flush=True)
    if args.verify_nodes:
        spec = SynthSpec(args.records, seed=1, symbols=20_000, purls=400)
        graph_path = big_graph(args.verify_nodes, 5, symbols=symbol_table(spec))
        graphs["verify"] = child_measure(VERIFY_CODE, str(graph_path), str(path))
        print(f"verify {args.records} records vs {args.verify_nodes} nodes: {graphs['verify']}")

    http: dict[str, Any] = {}
    if args.http:
        from http_ingest import http_benchmarks  # benchmarks/ is on sys.path when run as a script

        http = http_benchmarks(
            SynthSpec(args.records, seed=1, symbols=20_000, purls=400),
            path,
            fixture(10_000_000) if 10_000_000 in args.rss_records else None,
            clients=args.clients,
            seconds=args.seconds,
            scaleout=args.scaleout,
        )

    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "platform": platform.platform(),
        },
        "trace": {
            "records": args.records,
            "gzip_bytes": size,
            "decompressed_bytes": plain,
            "bytes_per_line": round(plain / args.records, 1),
        },
        "speed": speed,
        "parser": parser_in_use,
        # The machine is shared: 1-minute load average around the speed runs, and ours,
        # the floor and DuckDB run back to back in rounds (ratios of the same round).
        "load_average": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "head_to_head": rounds,
        "ratios": {
            "ours_vs_floor": round(speed["floor"]["seconds"] / speed["ours"]["seconds"], 3),
            "ours_vs_duckdb": round(speed["duckdb"]["seconds"] / speed["ours"]["seconds"], 3),
            "python_vs_floor": round(speed["floor"]["seconds"] / speed["python"]["seconds"], 3),
            "python_vs_duckdb": round(speed["duckdb"]["seconds"] / speed["python"]["seconds"], 3),
            "ours_vs_python": round(speed["python"]["seconds"] / speed["ours"]["seconds"], 3),
            "defects_vs_clean": defects["ratio"],
        },
        "defects": defects,
        "peak_rss_mib": rss,
        "graphs": graphs,
        "http": http,
        "targets": {
            "ours_records_per_s_min": 1_000_000,
            # issue 19: validate + aggregate >= 1.0 x DuckDB (2 threads), >= 1.5 x the floor;
            # 1,000 defective lines within 1.2 x of the clean trace's time
            "ours_vs_duckdb_min": 1.0,
            "ours_vs_floor_min": 1.5,
            "defects_vs_clean_max": 1.2,
            "peak_rss_mib_10m_max": 200,
            "verify_records_per_s_min": 1_000_000,
            "graph_1m_nodes_hash_index_seconds_max": 60,
            "graph_1m_nodes_peak_rss_mib_max": 4096,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = result["when"].replace(":", "").replace("-", "")
    for target in (RESULTS / f"{stamp}.json", RESULTS / "latest.json"):
        target.write_text(json.dumps(result, indent=2) + "\n")
    write_table(result)
    print(json.dumps(result["ratios"]))
    for name, (script, _) in SEPARATE.items():
        if getattr(args, name.replace("-", "_")):
            subprocess.run([sys.executable, str(HERE / script)], check=True)


def anatomy_line(speed: dict[str, Any], records: int) -> str:
    """Where a record's time goes, by difference between the runs (the checks and their
    aggregation by difference are the pure-Python parser's)."""
    if "checks" not in speed:
        return ""
    names = ("floor", "checks", "python", "ours")
    per = {name: speed[name]["seconds"] / records * 1e6 for name in names if name in speed}
    python = per.get("python", per["ours"])
    line = (
        f"Per record: floor {per['floor']:.2f} µs; the pure-Python parser: checks "
        f"+{per['checks'] - per['floor']:.2f} µs, aggregation +{python - per['checks']:.2f} µs "
        f"= {python:.2f} µs"
    )
    return line + (f"; the compiled core: {per['ours']:.2f} µs." if "python" in per else ".")


def write_table(result: dict[str, Any]) -> None:
    speed = result["speed"]
    rows = [
        "| run | seconds | M records/s | MB/s (decompressed) | speed relative to ours |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("floor", "checks", "ours", "python", "duckdb"):
        if name not in speed:
            continue
        s = speed[name]
        ratio = speed["ours"]["seconds"] / s["seconds"]
        rows.append(
            f"| {name} | {s['seconds']:.3f} | {s['records_per_s'] / 1e6:.2f} | "
            f"{s['mb_per_s_decompressed']:.0f} | {ratio:.2f}x |"
        )
    rss = ", ".join(f"{int(k):,} records: {v} MiB" for k, v in result["peak_rss_mib"].items())
    trace = result["trace"]
    body = "\n".join(
        [
            f"Last run {result['when']} at {result['commit']} "
            f"({result['machine']['cpus']} CPUs, Python {result['machine']['python']}); "
            f"trace: {trace['records']:,} records, {trace['gzip_bytes']:,} bytes gzip, "
            f"{trace['bytes_per_line']} bytes per line.",
            "",
            *rows,
            "",
            f"ours ({result.get('parser', 'python')} parser) / floor = "
            f"{result['ratios']['ours_vs_floor']}, / DuckDB = {result['ratios']['ours_vs_duckdb']}"
            + (
                f"; the pure-Python parser / floor = {result['ratios']['python_vs_floor']}; "
                f"1,000 defective lines: {result['ratios']['defects_vs_clean']} x the clean "
                "trace's time"
                if "python_vs_floor" in result["ratios"]
                else ""
            )
            + f"; peak RSS: {rss}.",
            "",
            anatomy_line(speed, trace["records"]),
            "",
            head_to_head_line(result),
            "",
            *graph_lines(result.get("graphs", {})),
            "",
            *http_lines(result.get("http", {}), speed["floor"]["records_per_s"]),
        ]
    )
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    README.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


def head_to_head_line(result: dict[str, Any]) -> str:
    """The load around the speed runs and the ratios of the back-to-back rounds."""
    load, rounds = result.get("load_average"), result.get("head_to_head")
    if not load or not rounds:
        return ""
    floor_r, duck_r = rounds["ours_vs_floor"], rounds["ours_vs_duckdb"]
    return (
        f"Load average (1 min) {load['before']} before the speed runs, {load['after']} after; "
        f"ours, the floor and DuckDB back to back in {len(rounds['rounds'])} rounds: ours / "
        f"floor {floor_r['min']} (min) {floor_r['median']} (median), ours / DuckDB "
        f"{duck_r['min']} (min) {duck_r['median']} (median)."
    )


def http_lines(http: dict[str, Any], floor_rps: int) -> list[str]:
    lines = []
    embedded = http.get("embedded", http)  # results before issue 8 had one deployment
    for name, runs in (("embedded", embedded), ("postgres-s3", http.get("postgres-s3", {}))):
        if not runs:
            continue
        where = "SQLite + filesystem" if name == "embedded" else "PostgreSQL + S3"
        if "single_1m" in runs:
            one = runs["single_1m"]
            lines.append(
                f"[{where}] HTTP ingest of the 1 M-record trace (validated, mapped, persisted, "
                f"receipted): {one['seconds']} s = {one['records_per_s']:,} records/s "
                f"(floor in the same run: {floor_rps:,} records/s)."
            )
        for key in sorted(k for k in runs if k.startswith("concurrent")):
            c = runs[key]
            lines.append(
                f"[{where}] {c['clients']} concurrent clients on {c.get('servers', 1)} "
                f"server(s) posting {c.get('records_per_trace', 1000):,}-record traces for "
                f"{c['seconds']} s: "
                f"{c['ingests_per_s']} ingests/s, p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms "
                f"(statuses {c['statuses']})"
                + (
                    f"; machine CPU {c['machine_cpu_busy']:.0%} busy, the servers used "
                    f"{c['server_cpu_s']} of {c['cpu_s_available']} CPU-s."
                    if "machine_cpu_busy" in c
                    else "."
                )
                + (
                    f" GET /healthz, same clients: {c['healthz']['ingests_per_s']}/s; ingests / "
                    f"healthz = {c['ingest_vs_healthz']} (load average "
                    f"{c['load_average'][0]})."
                    if "healthz" in c
                    else ""
                )
            )
        if "single_10m" in runs:
            ten = runs["single_10m"]
            lines.append(
                f"[{where}] HTTP ingest of a 10 M-record trace: {ten['seconds']} s "
                f"({ten['records_per_s']:,} records/s), "
                f"server peak RSS {ten['server_peak_rss_mib']} MiB."
            )
    scale = http.get("postgres-s3", {})
    if "single_1m" in scale and "single_1m" in embedded:
        ratio = scale["single_1m"]["records_per_s"] / embedded["single_1m"]["records_per_s"]
        lines.append(
            f"Large-trace ingest, PostgreSQL + S3 / embedded: {ratio:.2f}x (target ≥ 0.7)."
        )
    if "concurrent" in scale and "concurrent_2_servers" in scale:
        gain = scale["concurrent_2_servers"]["ingests_per_s"] / scale["concurrent"]["ingests_per_s"]
        lines.append(f"Small ingests, 2 servers / 1 server: {gain:.2f}x (target ≥ 1.6).")
    if "facts_insert" in http:
        f = http["facts_insert"]
        lines.append(
            f"PostgreSQL facts insert, {f['rows']:,} rows: COPY {f['copy_s']} s "
            f"({f['copy_rows_per_s']:,} rows/s), executemany {f['executemany_s']} s "
            f"({f['executemany_rows_per_s']:,} rows/s)."
        )
    return lines


def graph_lines(graphs: dict[str, Any]) -> list[str]:
    lines = []
    if "hash_index" in graphs:
        g = graphs["hash_index"]
        lines.append(
            f"Graph parse + hash + index, {g['nodes']:,} nodes / {g['edges']:,} edges "
            f"({g['graph_bytes']:,} bytes): {g['total_s']} s (parse {g['parse_s']} s, "
            f"canonical + hash {g['canonical_hash_s']} s, index {g['index_s']} s), "
            f"peak RSS {g['peak_rss_mib']} MiB."
        )
    if "verify" in graphs:
        v = graphs["verify"]
        lines.append(
            f"Verify {v['records']:,} records against an indexed graph: {v['total_s']} s "
            f"({v['records_per_s']:,} records/s end to end; mapping alone "
            f"{v['map_s']} s = {v['map_records_per_s']:,} records/s), "
            f"{v['mapped_symbols']:,}/{v['unique_symbols']:,} symbols mapped."
        )
    return lines


if __name__ == "__main__":
    main()
