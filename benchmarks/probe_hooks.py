"""Discovery mode's hooks on Python 3.12+ (docs/adr/0009 addendum): what each costs.

Discovery sees every Python call through one of two hooks, each with a compiled and a
pure-Python implementation of the same rules: ``sys.setprofile`` (the compiled profile
function of ``_cprofile.c``, or the closure) and, from Python 3.12, ``sys.monitoring``'s
``PY_START`` event (``Recorder.py_start``, or a closure). The default is whichever is cheapest
as measured here. Two workloads, each under the four and without the probe, in interleaved
rounds, always on (``--sample 3600/0``):

* the stdlib ``http.server`` service of ``benchmarks/probe.py --service stdlib``: server CPU
  time per request (from /proc: every thread of the server), keep-alive, sequential requests;
* a call-heavy loop (JSON, a regular expression, a generator, a comprehension, small
  functions): the process's CPU time for it.

The ratio of each configuration is the median, over rounds, of its CPU against the same
round's baseline. Runs on the newest pyenv CPython 3.12+ with the GIL it finds (``--python``
to choose), with the probe of this repository and its extension built for that Python.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _report import publish  # benchmarks/ is on sys.path when run as a script

from probe import clean_env, serve_and_time, stdlib_service

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROBE = REPO / "probe"

#: name → the environment that picks the profiler (None: no probe)
CONFIGS: dict[str, dict[str, str] | None] = {
    "baseline": None,
    "setprofile_compiled": {"STELLA_PROBE_HOOK": "setprofile"},
    "setprofile_python": {"STELLA_PROBE_HOOK": "setprofile", "STELLA_PROBE_PURE_PYTHON": "1"},
    "monitoring_compiled": {"STELLA_PROBE_HOOK": "monitoring"},
    "monitoring_python": {"STELLA_PROBE_HOOK": "monitoring", "STELLA_PROBE_PURE_PYTHON": "1"},
}

LOOP = """
import json, re, sys, time


def leaf(x):
    return x + 1


def middle(x):
    total = 0
    for i in range(5):
        total += leaf(i)
    return total


def numbers(n):
    for i in range(n):
        yield i


def app(i):
    text = json.dumps({"a": i, "b": [middle(i) for _ in range(3)]})
    re.match(r"\\{", text)
    return sum(numbers(5)) + len(text)


start = time.process_time()
for i in range(int(sys.argv[1])):
    app(i)
print(time.process_time() - start)
"""


def newest_python() -> str | None:
    """The newest CPython 3.12+ with the GIL: this one, else pyenv's."""
    candidates = [sys.executable, *sorted(Path("/root/.pyenv/versions").glob("3.*/bin/python"))]
    query = "import sys, sysconfig; print(sys.version_info >= (3, 12) and " \
            "not sysconfig.get_config_var('Py_GIL_DISABLED'), *sys.version_info[:2])"  # fmt: skip
    found: list[tuple[tuple[int, int], str]] = []
    for candidate in candidates:
        try:
            done = subprocess.run([str(candidate), "-c", query], capture_output=True, text=True,
                                  check=True, timeout=30)  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            continue
        ok, major, minor = done.stdout.split()
        if ok == "True":
            found.append(((int(major), int(minor)), str(candidate)))
    return max(found)[1] if found else None


def build_site(python: str, site: Path) -> None:
    """This repository's probe in ``site`` with its extension compiled for ``python``."""
    spec = importlib.util.spec_from_file_location("probe_hatch_build", PROBE / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    shutil.copytree(PROBE / "src" / "stella_probe", site / "stella_probe",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))  # fmt: skip
    query = "import sysconfig; print(sysconfig.get_paths()['include']); " \
            "print(sysconfig.get_config_var('EXT_SUFFIX'))"  # fmt: skip
    include, suffix = subprocess.run([python, "-c", query], capture_output=True, text=True,
                                     check=True).stdout.split()  # fmt: skip
    source = PROBE / "src" / "stella_probe" / "_cprofile.c"
    problem = hook.compile_profiler(source, site / "stella_probe" / f"_cprofile{suffix}",
                                    include=include)  # fmt: skip
    if problem is not None:
        raise SystemExit(f"probe_hooks: the extension could not be built: {problem}")


def loop_cpu(python: str, site: Path, folder: Path, env: dict[str, str] | None, n: int) -> float:
    """CPU seconds of the loop's own work (measured inside the process)."""
    command = [python, "-S", str(folder / "loop.py"), str(n)]
    if env is not None:
        out = folder / "out"
        command = [python, "-S", "-m", "stella_probe", "run", "--mode", "discovery", "--sample",
                   "3600/0", "--out", str(out), "--", *command[2:]]  # fmt: skip
    done = subprocess.run(command, cwd=folder, env={**clean_env(str(site)), **(env or {})},
                          capture_output=True, text=True, check=True)  # fmt: skip
    return float(done.stdout.split()[-1])


def measure(python: str, requests: int, calls: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="probe-hooks-") as tmp:
        folder = Path(tmp)
        site = folder / "site"
        build_site(python, site)
        service = dataclasses.replace(stdlib_service(folder / "service"), python=python,
                                      pythonpath=str(site))  # fmt: skip
        (folder / "loop.py").write_text(LOOP)
        per_request: dict[str, list[float]] = {name: [] for name in CONFIGS}
        per_loop: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for _ in range(rounds):
            for name, env in CONFIGS.items():
                options = ["none"] if env is None else ["--mode", "discovery", "--sample", "3600/0"]
                _, cpu = serve_and_time(service, options, requests, folder / "out", env)
                per_request[name].append(cpu / requests)
                per_loop[name].append(loop_cpu(python, site, folder, env, calls))
    result: dict[str, Any] = {}
    for workload, times in (("service", per_request), ("loop", per_loop)):
        base, scale = times["baseline"], 1e6 if workload == "service" else 1e3
        result[workload] = {}
        for name, values in times.items():
            ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
            cpu = statistics.median(values) * scale
            result[workload][name] = {"cpu_us": round(cpu, 1), "ratio": round(ratio, 3)}
    ratios = {name: result["service"][name]["ratio"] for name in CONFIGS if name != "baseline"}
    result["cheapest"] = min(ratios, key=lambda name: ratios[name])
    return result


def markdown(result: dict[str, Any]) -> str:
    s, loop = result["measured"]["service"], result["measured"]["loop"]
    rows = [
        f"Discovery's hooks, last run {result['when']} at {result['commit']} on CPython "
        f"{result['python']} ({result['machine']['cpus']} CPUs, load average "
        f"{result['machine']['load_average_1m_before']} at the start), {result['rounds']} "
        f"interleaved rounds, the median ratio against each round's baseline; always on "
        f"(`--sample 3600/0`).",
        "",
        f"| profiler | stdlib service, CPU µs/request ({result['requests']:,} requests) | ratio "
        f"| call-heavy loop, CPU ms ({result['calls']:,} iterations) | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in CONFIGS:
        rows.append(f"| {name.replace('_', ', ')} | {s[name]['cpu_us']} | x{s[name]['ratio']} | "
                    f"{loop[name]['cpu_us']} | x{loop[name]['ratio']} |")  # fmt: skip
    rows += ["", f"Cheapest on the service: {result['measured']['cheapest'].replace('_', ', ')}."]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", help="a CPython 3.12+ (default: the newest found)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=60000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    python = args.python or newest_python()
    if python is None:  # nothing to compare: sys.monitoring is 3.12+
        print("probe_hooks: skipped, no CPython 3.12+ with the GIL on this machine (--python)")
        return
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip(),
        "python": version,
        "machine": {
            "cpus": os.cpu_count(),
            "host_python": platform.python_version(),
            "load_average_1m_before": round(os.getloadavg()[0], 2),
        },
        "requests": args.requests,
        "calls": args.calls,
        "rounds": args.rounds,
        "measured": measure(python, args.requests, args.calls, args.rounds),
    }
    body = markdown(result)
    publish("probe-hooks", result, body, heading="Runtime probe: discovery's hooks (Python 3.12+)")
    print(body)


if __name__ == "__main__":
    main()
