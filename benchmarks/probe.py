"""`stella-probe` benchmark (issue 17): overhead on a real request loop, and memory.

The example service is a stdlib `http.server` app (HTTP/1.1 keep-alive, a thread per
connection) whose 120 route handlers call a few helpers each; a client in this process sends
REQUESTS sequential requests over one connection and times them. Each configuration runs in a
fresh server process, interleaved ROUNDS times; what is compared is the server's CPU time per
request (nanosecond schedstat of its threads), each configuration against the baseline of the
same round, median over the rounds (the machine is shared: wall time is mostly waiting):

* baseline — the service alone;
* targeted — `python -m stella_probe run --targets` with 100 handlers as targets;
* discovery (in window) — profiling on for the whole run (`--sample 3600/0`);
* discovery (idle phase) — the duty cycle's off phase (`--sample 0.001/3600`);
* discovery (default duty cycle) — the default's 1:5 on/off ratio scaled to `--sample 1/5`
  over a run of several cycles.

Memory: a program that makes 10 M calls over 5,000 distinct functions, with and without the
probe in discovery mode (always on); the probe's cost is the difference in peak RSS (VmHWM).

Targets: targeted ≤ 3 % slower; discovery ≤ 2x in its windows and ≤ 20 % on average with the
default duty cycle; the probe's memory < 20 MiB. Writes `benchmarks/results/probe-latest.json`
and the probe section of `benchmarks/README.md`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _report import publish  # benchmarks/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROBE_SRC = REPO / "probe" / "src"
TARGETS = {
    "targeted_overhead_max": 0.03,
    "discovery_window_slowdown_max": 2.0,
    "discovery_average_overhead_max": 0.20,
    "memory_mib_max": 20,
}
HANDLERS = 120

ROUTES = '''
"""Route handlers of the example service."""

import json


def _clean(value):
    return value.strip().lower()


def _render(payload):
    return json.dumps(payload, sort_keys=True).encode()


def _check(params):
    return {_clean(k): _clean(v) for k, v in params.items() if k}

''' + "".join(
    f"""
def handler_{i}(params):
    data = _check(params)
    data["route"] = {i}
    data["total"] = sum(len(v) for v in data.values() if isinstance(v, str))
    return _render(data)

"""
    for i in range(HANDLERS)
)

SERVER = '''
"""The example service: `http.server` with keep-alive, dispatching to app.routes."""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from app import routes

HANDLERS = [getattr(routes, f"handler_{i}") for i in range(COUNT)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        url = urlsplit(self.path)
        number = int(url.path.rsplit("/", 1)[-1])
        body = HANDLERS[number % len(HANDLERS)](dict(parse_qsl(url.query)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
try:
    server.serve_forever()
finally:
    server.server_close()
'''.replace("COUNT", str(HANDLERS))

MEMORY = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import many
functions = [getattr(many, f"f{i}") for i in range(5000)]
def drive(rounds):
    for _ in range(rounds):
        for f in functions:
            f()
def status(field):
    lines = Path("/proc/self/status").read_text().splitlines()
    return int(next(x.split()[1] for x in lines if x.startswith(field + ":")))
before = status("VmRSS")  # the module is loaded; the probe has seen none of its functions
start = time.perf_counter()
drive(2000)
seconds = time.perf_counter() - start
print(f"{status('VmHWM')} {status('VmRSS') - before} {seconds}")
"""


def write_service(folder: Path) -> None:
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "__init__.py").write_text("")
    (folder / "app" / "routes.py").write_text(ROUTES)
    (folder / "server.py").write_text(SERVER)
    (folder / "targets.txt").write_text("".join(f"app.routes:handler_{i}\n" for i in range(100)))


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STELLA_PROBE", "PYTHON"))}
    clean["PYTHONPATH"] = str(PROBE_SRC)
    return clean


def probe_command(folder: Path, options: list[str], script: str) -> list[str]:
    if options == ["none"]:
        return [sys.executable, "-S", str(folder / script)]
    out = folder / "out" / str(time.monotonic_ns())
    return [sys.executable, "-S", "-m", "stella_probe", "run", "--out", str(out),
            "--project-root", str(folder), *options, "--", str(folder / script)]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """CPU time of a process's threads (nanosecond ``schedstat``, not 10 ms clock ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return total / 1e9


def serve_and_time(folder: Path, options: list[str], requests: int) -> tuple[float, float]:
    """(wall seconds, server CPU seconds) for ``requests`` sequential requests to a fresh server
    process. CPU time is what the probe adds; wall time on a shared machine is mostly waiting."""
    with subprocess.Popen(
        probe_command(folder, options, "server.py"),
        cwd=folder, env=env(), stdout=subprocess.PIPE, text=True,
    ) as server:  # fmt: skip
        assert server.stdout is not None
        port = int(server.stdout.readline())
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(200):  # warm-up: imports done, targets instrumented
            connection.request("GET", f"/r/{i}?name=Warm&q=x")
            connection.getresponse().read()
        start = time.perf_counter()
        cpu = cpu_seconds(server.pid)
        for i in range(requests):
            connection.request("GET", f"/r/{i}?name=Alice%20Smith&q=probe&page={i}")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(server.pid) - cpu
        connection.close()
        server.terminate()
        server.wait(timeout=30)
    return elapsed, cpu


CONFIGS = {
    "baseline": ["none"],
    "targeted": ["--targets", "TARGETS", "--window", "5"],
    "discovery_window": ["--mode", "discovery", "--sample", "3600/0"],
    "discovery_idle": ["--mode", "discovery", "--sample", "0.001/3600"],
    "discovery_duty": ["--mode", "discovery", "--sample", "1/5"],
}


def overhead(requests: int, rounds: int, duty_requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        folder = Path(tmp)
        write_service(folder)
        targets = str(folder / "targets.txt")
        options = {name: [targets if o == "TARGETS" else o for o in opts]
                   for name, opts in CONFIGS.items()}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in CONFIGS}
        walls: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for _ in range(rounds):
            for name in CONFIGS:
                n = duty_requests if name == "discovery_duty" else requests
                wall, cpu = serve_and_time(folder, options[name], n)
                times[name].append(cpu / n)
                walls[name].append(wall / n)
    best = {name: min(values) for name, values in times.items()}
    # each configuration against the baseline of its own round (adjacent in time), median
    base = times["baseline"]
    ratio = {name: statistics.median(v / b for v, b in zip(values, base, strict=True))
             for name, values in times.items()}  # fmt: skip
    window_ratio = ratio["discovery_window"]
    idle = ratio["discovery_idle"] - 1
    return {
        "requests": requests,
        "duty_requests": duty_requests,
        "rounds": rounds,
        "cpu_us_per_request": {name: round(v * 1e6, 1) for name, v in best.items()},
        "wall_us_per_request": {k: round(min(v) * 1e6, 1) for k, v in walls.items()},
        "targeted_overhead": round(ratio["targeted"] - 1, 4),
        "discovery_window_slowdown": round(window_ratio, 3),
        "discovery_idle_overhead": round(idle, 4),
        "discovery_duty_overhead_measured": round(ratio["discovery_duty"] - 1, 4),
        # the default 10 s on / 50 s off, from the two phases measured separately
        "discovery_default_duty_overhead": round((10 * (window_ratio - 1) + 50 * idle) / 60, 4),
        "all_rounds_cpu_us": {k: [round(v * 1e6, 1) for v in vs] for k, vs in times.items()},
    }


def memory() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="probe-mem-") as tmp:
        folder = Path(tmp)
        (folder / "many.py").write_text(
            "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(5000))
        )
        (folder / "drive.py").write_text(MEMORY)
        results = {}
        for name, options in (("without", ["none"]),
                              ("with", ["--mode", "discovery", "--sample", "3600/0"])):  # fmt: skip
            done = subprocess.run(
                [*probe_command(folder, options, "drive.py"), str(folder)],
                cwd=folder, env=env(), capture_output=True, text=True, check=True,
            )  # fmt: skip
            peak_kib, growth_kib, seconds = done.stdout.split()
            results[name] = (int(peak_kib), int(growth_kib), float(seconds))
        windows = list((folder / "out").glob("*/window-*/probe-manifest.json"))
        keys = sum(json.loads(p.read_text())["distinct_keys"] for p in windows)
    return {
        "calls": 10_000_000,
        "distinct_functions": 5000,
        "distinct_keys_recorded": keys,
        "peak_rss_mib_without": round(results["without"][0] / 1024, 1),
        "peak_rss_mib_with": round(results["with"][0] / 1024, 1),
        "probe_mib": round((results["with"][1] - results["without"][1]) / 1024, 1),
        "rss_growth_mib_during_calls_with": round(results["with"][1] / 1024, 1),
        "rss_growth_mib_during_calls_without": round(results["without"][1] / 1024, 1),
        "seconds_without": round(results["without"][2], 1),
        "seconds_with": round(results["with"][2], 1),
    }


def run(requests: int, rounds: int, duty_requests: int) -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_before": round(os.getloadavg()[0], 2),
        },
        "overhead": overhead(requests, rounds, duty_requests),
        "memory": memory(),
        "targets": TARGETS,
    }


def markdown(result: dict[str, Any]) -> str:
    o, m = result["overhead"], result["memory"]
    us, wall = o["cpu_us_per_request"], o["wall_us_per_request"]
    return "\n".join(
        [
            f"Runtime probe, last run {result['when']} at {result['commit']} "
            f"({result['machine']['cpus']} CPUs shared, Python {result['machine']['python']}, "
            f"load {result['machine']['load_average_1m_before']}).",
            "",
            f"Request loop: stdlib `http.server` service, {o['requests']:,} sequential "
            f"keep-alive requests per run, {o['rounds']} interleaved rounds; server CPU time per "
            f"request (best round) and the median over rounds of its ratio to the same round's "
            f"baseline (wall time per request on this shared machine: baseline "
            f"{wall['baseline']} µs, discovery in a window {wall['discovery_window']} µs).",
            "",
            "| configuration | CPU µs / request | vs baseline | target |",
            "|---|---:|---:|---|",
            f"| baseline | {us['baseline']} | | |",
            f"| targeted, 100 targets | {us['targeted']} | "
            f"{o['targeted_overhead']:+.1%} | ≤ +3 % |",
            f"| discovery, in a window | {us['discovery_window']} | "
            f"x{o['discovery_window_slowdown']} | ≤ x2 |",
            f"| discovery, idle phase | {us['discovery_idle']} | "
            f"{o['discovery_idle_overhead']:+.1%} | |",
            f"| discovery, 1 s on / 5 s off ({o['duty_requests']:,} requests) | "
            f"{us['discovery_duty']} | {o['discovery_duty_overhead_measured']:+.1%} | ≤ +20 % |",
            f"| discovery, default 10 s / 50 s (from the phases) | | "
            f"{o['discovery_default_duty_overhead']:+.1%} | ≤ +20 % |",
            "",
            f"Memory: {m['calls']:,} calls over {m['distinct_functions']:,} functions in "
            f"discovery mode: peak RSS {m['peak_rss_mib_with']} MiB with the probe, "
            f"{m['peak_rss_mib_without']} MiB without; RSS growth while making the calls "
            f"{m['rss_growth_mib_during_calls_with']} MiB with, "
            f"{m['rss_growth_mib_during_calls_without']} MiB without: the probe costs "
            f"**{m['probe_mib']} MiB** (target < 20 MiB) for {m['distinct_keys_recorded']:,} "
            "distinct keys. Time for the calls "
            f"(empty functions, the worst case for a profiler): {m['seconds_with']} s with, "
            f"{m['seconds_without']} s without.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duty-requests", type=int, default=30000)
    args = parser.parse_args()
    result = run(args.requests, args.rounds, args.duty_requests)
    body = markdown(result)
    publish("probe", result, body, heading="Runtime probe")
    print(body)


if __name__ == "__main__":
    main()
