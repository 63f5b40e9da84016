"""`stella-probe` benchmark (issue 17): overhead on a real request loop, and memory.

The service under test (``--service``) is by default the example service of docs/example.md,
the Flask shop of examples/shop, in its own environment (.cache/example/venv, built or reused by
examples/shop/venv.sh exactly as the walkthrough does, the probe installed in it), served by
Werkzeug's threaded server (HTTP/1.1 keep-alive). ``--service stdlib`` is a stdlib
`http.server` app whose 120 route handlers call a few helpers each. A client in this process
sends REQUESTS sequential keep-alive requests over one connection, to several routes in turn,
and times them. Each configuration runs in a fresh server process, interleaved ROUNDS times;
what is compared is the server's CPU time per request (nanosecond schedstat of its threads,
from /proc), each configuration against the baseline of the same round, median over the rounds
(the machine is shared: wall time is mostly waiting):

* baseline — the service alone;
* targeted — `python -m stella_probe run --targets` with 100 targets (the shop: the catalog's
  two functions and 98 other functions of its dependencies, several on the request path,
  written to a targets file deterministically; stdlib: 100 handlers);
* discovery (in window) — profiling on for the whole run (`--sample 3600/0`), with the
  profiler the service's probe runs (the compiled one, `stella_probe._cprofile`, where the
  probe was installed with a C compiler: docs/adr/0009);
* discovery (in window, pure Python) — the same with ``STELLA_PROBE_PURE_PYTHON=1``: the
  pure-Python profiler, the yardstick of the compiled one in the same run;
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
import gzip
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Handler)
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


# The shop's targets: the catalog's two functions (examples/shop/targets.txt), these functions
# on its request path, then functions of its dependencies spread evenly over the sorted list of
# every Python function its dependencies' loaded modules define, up to 100 (deterministic: the
# versions are pinned). Printed by this program, run in the shop's environment.
SHOP_REQUEST_PATH = [
    "flask.app:Flask.wsgi_app",
    "flask.app:Flask.full_dispatch_request",
    "flask.app:Flask.dispatch_request",
    "flask.app:Flask.finalize_request",
    "flask.app:Flask.make_response",
    "flask.app:Flask.process_response",
    "flask.app:Flask.preprocess_request",
    "flask.app:Flask.create_url_adapter",
    "flask.ctx:RequestContext.push",
    "flask.ctx:RequestContext.pop",
    "flask.json:jsonify",
    "flask.templating:render_template_string",
    "werkzeug.routing.map:MapAdapter.match",
    "werkzeug.wrappers.response:Response.__call__",
    "itsdangerous.serializer:Serializer.dumps",
    "itsdangerous.serializer:Serializer.loads",
    "jinja2.environment:Template.render",
]
SHOP_TARGETS = """
import inspect, sys
sys.path.insert(0, sys.argv[1])
import app  # the shop: everything its routes use is imported
chosen = [line.split("#")[0].strip() for line in open(sys.argv[2])]
chosen = [t for t in chosen if t] + sys.argv[4:]
def resolve(target):
    module, _, qualname = target.partition(":")
    obj = sys.modules[module]
    for part in qualname.split("."):
        obj = vars(obj)[part]
    assert inspect.isfunction(obj), target
for target in chosen:
    resolve(target)  # a name that is not a Python function of the shop's environment: fail
tops = {"flask", "werkzeug", "jinja2", "itsdangerous", "markupsafe", "click", "blinker"}
every = set()
for name, module in list(sys.modules.items()):
    if name.partition(".")[0] not in tops or module is None:
        continue
    for obj in list(vars(module).values()):
        if getattr(obj, "__module__", None) != name:
            continue
        members = [obj] if inspect.isfunction(obj) else (
            list(vars(obj).values()) if inspect.isclass(obj) else [])
        for f in members:
            if (inspect.isfunction(f) and f.__module__ == name and "<" not in f.__qualname__
                    and f.__code__.co_filename == module.__file__):  # not made by exec
                every.add(f"{name}:{f.__qualname__}")
rest = sorted(every - set(chosen))
need = int(sys.argv[3]) - len(chosen)
print(*chosen, *(rest[i * len(rest) // need] for i in range(need)), sep="\\n")
"""
# Werkzeug's development server (what `app.run` uses) closes every connection ("Connection:
# close" always), so the shop's WSGI app is served here by a stdlib WSGI server that keeps
# connections alive (HTTP/1.1, a thread per connection), run in the shop's environment.
SHOP_SERVER = """
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

sys.path.insert(0, sys.argv[1])
from app import app  # the shop of examples/shop


class Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written apart

    def handle(self):
        self.close_connection = False
        while not self.close_connection:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or not self.parse_request():
                return
            handler = ServerHandler(self.rfile, self.wfile, self.get_stderr(),
                                    self.get_environ(), multithread=True)
            handler.http_version = "1.1"
            handler.request_handler = self
            handler.run(self.server.get_app())

    def log_message(self, format, *args):
        pass


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


server = Server(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Handler)
server.set_app(app)
server.serve_forever()
"""
SHOP_VENV = REPO / ".cache" / "example" / "venv"
SHOP = REPO / "examples" / "shop"


@dataclass(frozen=True)
class Service:
    """A service under test: how to start it on a port, with or without the probe, and the
    requests sent to it (several routes in turn)."""

    name: str
    description: str
    python: str
    folder: Path  # the project root and working directory
    script: Path
    targets: Path
    python_flags: tuple[str, ...]
    pythonpath: str | None
    request: Callable[[http.client.HTTPConnection, int], None]

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**clean_env(self.pythonpath), **(extra or {})}

    def profiler(self) -> str:
        """Which profiler discovery mode runs in the service's environment."""
        return profiler_kind([self.python, *self.python_flags], self.env(), self.folder)

    def command(self, options: list[str], port: int, out: Path) -> list[str]:
        script = [str(self.script), str(self.folder), "--port", str(port)]
        if options == ["none"]:
            return [self.python, *self.python_flags, *script]
        run = ["-m", "stella_probe", "run", "--out", str(out / str(time.monotonic_ns())),
               "--project-root", str(self.folder)]  # fmt: skip
        return [self.python, *self.python_flags, *run, *options, "--", *script]


def profiler_kind(python: list[str], env: dict[str, str], cwd: Path) -> str:
    """Which profiler discovery mode runs with this interpreter and environment."""
    query = "from stella_probe import Config, Probe; "
    query += "print(Probe(Config(mode='discovery')).profiler_kind)"
    done = subprocess.run([*python, "-c", query], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def _get(connection: http.client.HTTPConnection, path: str) -> None:
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, (path, response.status)


def stdlib_request(connection: http.client.HTTPConnection, i: int) -> None:
    _get(connection, f"/r/{i}?name=Alice%20Smith&q=probe&page={i}")


def shop_request(connection: http.client.HTTPConnection, i: int) -> None:
    """The shop's five routes in turn: the page (Jinja2), a product and a cart (JSON), a cart
    token signed then checked (itsdangerous), a receipt name (Werkzeug's secure_filename)."""
    route = i % 5
    if route == 0:
        _get(connection, "/")
    elif route == 1:
        _get(connection, f"/products/{1 + i % 3}")
    elif route == 2:
        body = json.dumps({"items": [1, 1 + i % 3]})
        connection.request("POST", "/cart", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, ("/cart", response.status)
    elif route == 3:
        _get(connection, f"/cart/{SHOP_SIGNED_CART}")
    else:
        _get(connection, f"/receipts/../Receipt%20{i}.pdf")


SHOP_SIGNED_CART = "WzEsMl0.d41AnV2fVQ4T7XaHj8YXfqeFuYQ"  # checked at start: see shop_service


def stdlib_service(folder: Path) -> Service:
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "__init__.py").write_text("")
    (folder / "app" / "routes.py").write_text(ROUTES)
    (folder / "server.py").write_text(SERVER)
    (folder / "targets.txt").write_text("".join(f"app.routes:handler_{i}\n" for i in range(100)))
    return Service(
        "stdlib", f"stdlib `http.server` service ({HANDLERS} routes)", sys.executable, folder,
        folder / "server.py", folder / "targets.txt", ("-S",), str(PROBE_SRC), stdlib_request,
    )  # fmt: skip


def shop_service(folder: Path) -> Service:
    """The Flask shop in its own environment, made or reused as the walkthrough does."""
    subprocess.run(["bash", str(SHOP / "venv.sh"), str(SHOP_VENV), sys.executable], check=True)
    python = str(SHOP_VENV / "bin" / "python")
    folder.mkdir(parents=True)
    targets = folder / "targets.txt"
    listed = subprocess.run(
        [python, "-c", SHOP_TARGETS, str(SHOP), str(SHOP / "targets.txt"), "100",
         *SHOP_REQUEST_PATH],
        capture_output=True, text=True, check=True, cwd=SHOP,
    ).stdout  # fmt: skip
    targets.write_text(listed)
    assert len(listed.split()) == 100, listed
    token = subprocess.run(
        [python, "-c", "import sys; sys.path.insert(0, '.'); import app; "
         "print(app.carts.dumps([1, 2]))"],
        capture_output=True, text=True, check=True, cwd=SHOP,
    ).stdout.strip()  # fmt: skip
    assert token == SHOP_SIGNED_CART, token  # the demo key and salt are fixed
    (folder / "serve_shop.py").write_text(SHOP_SERVER)
    return Service(
        "shop", "the Flask shop of examples/shop (5 routes) behind a stdlib keep-alive WSGI "
        "server, in the shop's own environment", python, SHOP, folder / "serve_shop.py",
        targets, (), None, shop_request,
    )  # fmt: skip


def clean_env(pythonpath: str | None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STELLA_PROBE", "PYTHON"))}
    if pythonpath:
        clean["PYTHONPATH"] = pythonpath
    return clean


def probe_command(folder: Path, options: list[str], script: str) -> list[str]:
    """The memory program, with the probe of the repository (on PYTHONPATH) or without."""
    if options == ["none"]:
        return [sys.executable, "-S", str(folder / script)]
    out = folder / "out" / str(time.monotonic_ns())
    return [sys.executable, "-S", "-m", "stella_probe", "run", "--out", str(out),
            "--project-root", str(folder), *options, "--", str(folder / script)]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connect(port: int, server: subprocess.Popen[str]) -> http.client.HTTPConnection:
    """A keep-alive connection, once the server answers (60 s)."""
    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"the server ended with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process's threads (nanosecond ``schedstat``, not 10 ms clock ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return total / 1e9


def serve_and_time(
    service: Service,
    options: list[str],
    requests: int,
    out: Path,
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """(wall seconds, server CPU seconds) for ``requests`` sequential requests to a fresh server
    process. CPU time is what the probe adds; wall time on a shared machine is mostly waiting."""
    port = free_port()
    with subprocess.Popen(
        service.command(options, port, out), cwd=service.folder, env=service.env(env),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    ) as server:  # fmt: skip
        connection = connect(port, server)
        for i in range(200):  # warm-up: imports done, targets instrumented
            service.request(connection, i)
        start = time.perf_counter()
        cpu = cpu_seconds(server.pid)
        for i in range(requests):
            service.request(connection, i)
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
    "discovery_window_python": ["--mode", "discovery", "--sample", "3600/0"],
    "discovery_idle": ["--mode", "discovery", "--sample", "0.001/3600"],
    "discovery_duty": ["--mode", "discovery", "--sample", "1/5"],
}


#: the environment a configuration adds to the service's
CONFIG_ENV = {"discovery_window_python": {"STELLA_PROBE_PURE_PYTHON": "1"}}


def overhead(service_name: str, requests: int, rounds: int, duty_requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        folder = Path(tmp)
        make = shop_service if service_name == "shop" else stdlib_service
        service = make(folder / "service")
        targets = service.targets.read_text().split()
        options = {name: [str(service.targets) if o == "TARGETS" else o for o in opts]
                   for name, opts in CONFIGS.items()}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in CONFIGS}
        walls: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for _ in range(rounds):
            for name in CONFIGS:
                n = duty_requests if name == "discovery_duty" else requests
                wall, cpu = serve_and_time(
                    service, options[name], n, folder / "out", CONFIG_ENV.get(name)
                )
                times[name].append(cpu / n)
                walls[name].append(wall / n)
        instrumented, hit = targeted_windows(folder / "out")
    best = {name: min(values) for name, values in times.items()}
    # each configuration against the baseline of its own round (adjacent in time), median
    base = times["baseline"]
    ratio = {name: statistics.median(v / b for v, b in zip(values, base, strict=True))
             for name, values in times.items()}  # fmt: skip
    window_ratio = ratio["discovery_window"]
    idle = ratio["discovery_idle"] - 1
    # the off phase cannot make the service faster: a negative idle figure is noise, counted 0
    default_duty = (10 * (window_ratio - 1) + 50 * max(idle, 0.0)) / 60
    return {
        "service": service.name,
        "service_description": service.description,
        "profiler": service.profiler(),
        "targets_watched": len(targets),
        "targets_file": targets,
        "targets_instrumented_min": instrumented,  # over every window of the targeted runs
        "targets_hit": hit,  # distinct targets seen in the windows of the targeted runs
        "requests": requests,
        "duty_requests": duty_requests,
        "rounds": rounds,
        "cpu_us_per_request": {name: round(v * 1e6, 1) for name, v in best.items()},
        "wall_us_per_request": {k: round(min(v) * 1e6, 1) for k, v in walls.items()},
        "targeted_overhead": round(ratio["targeted"] - 1, 4),
        "discovery_window_slowdown": round(window_ratio, 3),
        "discovery_window_slowdown_python": round(ratio["discovery_window_python"], 3),
        "discovery_idle_overhead": round(idle, 4),
        "discovery_duty_overhead_measured": round(ratio["discovery_duty"] - 1, 4),
        # the default 10 s on / 50 s off, from the two phases measured separately
        "discovery_default_duty_overhead": round(default_duty, 4),
        "verdicts": [
            verdict(
                "targeted, 100 targets: slowdown",
                ratio["targeted"] - 1,
                TARGETS["targeted_overhead_max"],
            ),
            verdict(
                "discovery, in a window: slowdown factor",
                window_ratio,
                TARGETS["discovery_window_slowdown_max"],
            ),
            verdict(
                "discovery, default duty cycle: average slowdown",
                default_duty,
                TARGETS["discovery_average_overhead_max"],
            ),
        ],
        "all_rounds_cpu_us": {k: [round(v * 1e6, 1) for v in vs] for k, vs in times.items()},
    }


def targeted_windows(out: Path) -> tuple[int, int]:
    """(fewest targets instrumented in a window, distinct targets hit) over the targeted runs'
    windows, from their probe manifests and traces."""
    instrumented, hit = [], set()
    for path in out.glob("*/window-*/probe-manifest.json"):
        manifest = json.loads(path.read_text())
        if manifest["mode"] != "targeted":
            continue
        instrumented.append(manifest["targets_instrumented"])
        with gzip.open(path.parent / "runtime-trace.ndjson.gz", "rt") as trace:
            hit.update(json.loads(line)["symbol_id"] for line in trace if line.strip())
    return min(instrumented, default=0), len(hit)


def verdict(measure: str, measured: float, target: float) -> dict[str, Any]:
    return {"measure": measure, "measured": round(measured, 4), "target_max": target,
            "met": measured <= target}  # fmt: skip


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
                cwd=folder, env=clean_env(str(PROBE_SRC)),
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            peak_kib, growth_kib, seconds = done.stdout.split()
            results[name] = (int(peak_kib), int(growth_kib), float(seconds))
        windows = list((folder / "out").glob("*/window-*/probe-manifest.json"))
        keys = sum(json.loads(p.read_text())["distinct_keys"] for p in windows)
    return {
        "profiler": profiler_kind([sys.executable, "-S"], clean_env(str(PROBE_SRC)), REPO),
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


def run(service: str, requests: int, rounds: int, duty_requests: int) -> dict[str, Any]:
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
        "overhead": overhead(service, requests, rounds, duty_requests),
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
            f"Request loop: {o['service_description']}, {o['requests']:,} sequential "
            f"keep-alive requests per run over real HTTP, {o['targets_watched']} targets in "
            f"targeted mode ({o['targets_instrumented_min']} instrumented, {o['targets_hit']} "
            f"of them hit by the requests), {o['rounds']} interleaved rounds; server CPU time per "
            f"request (best round) and the median over rounds of its ratio to the same round's "
            f"baseline (wall time per request on this shared machine: baseline "
            f"{wall['baseline']} µs, discovery in a window {wall['discovery_window']} µs).",
            "",
            "| configuration | CPU µs / request | vs baseline | target |",
            "|---|---:|---:|---|",
            f"| baseline | {us['baseline']} | | |",
            f"| targeted, 100 targets | {us['targeted']} | "
            f"{o['targeted_overhead']:+.1%} | ≤ +3 % |",
            f"| discovery, in a window ({o['profiler']} profiler) | {us['discovery_window']} | "
            f"x{o['discovery_window_slowdown']} | ≤ x2 |",
            f"| discovery, in a window, pure-Python profiler (yardstick) | "
            f"{us['discovery_window_python']} | x{o['discovery_window_slowdown_python']} | |",
            f"| discovery, idle phase | {us['discovery_idle']} | "
            f"{o['discovery_idle_overhead']:+.1%} | |",
            f"| discovery, 1 s on / 5 s off ({o['duty_requests']:,} requests) | "
            f"{us['discovery_duty']} | {o['discovery_duty_overhead_measured']:+.1%} | ≤ +20 % |",
            f"| discovery, default 10 s / 50 s (from the phases) | | "
            f"{o['discovery_default_duty_overhead']:+.1%} | ≤ +20 % |",
            "",
            "| target | measured | target | met |",
            "|---|---:|---:|---|",
            *(
                f"| {v['measure']} | {v['measured']} | ≤ {v['target_max']} | {v['met']} |"
                for v in o["verdicts"]
            ),
            "",
            f"Memory: {m['calls']:,} calls over {m['distinct_functions']:,} functions in "
            f"discovery mode ({m['profiler']} profiler): peak RSS {m['peak_rss_mib_with']} MiB "
            "with the probe, "
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
    parser.add_argument("--service", choices=("shop", "stdlib"), default="shop")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duty-requests", type=int, default=10000)
    args = parser.parse_args()
    result = run(args.service, args.requests, args.rounds, args.duty_requests)
    body = markdown(result)
    publish("probe", result, body, heading="Runtime probe")
    print(body)


if __name__ == "__main__":
    main()
