"""The probe in a real process: threads, fork, SIGTERM, a disk that refuses writes, its own
failure, bounded memory, activation through STELLA_PROBE (the .pth hook)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from stella_probe._naming import symbol_id

from tests._compiler import COMPILER, needs_compiler
from tests.probe._probe import (
    KINDS,
    REPO,
    Variant,
    monitoring_pythons,
    probe_env,
    records,
    run_probe,
    windows,
)

#: Starts Python interpreters (the probe, another venv, a traced run): e2e, not unit
#: (tests/_tiers.py, docs/testing.md).
pytestmark = pytest.mark.e2e


PROGRAMS = Path(__file__).parent / "programs"


def sid(module: str, qualname: str) -> str:
    return symbol_id("", module, qualname)


def test_threads_are_counted_exactly(tmp_path: Path, profiler: Variant) -> None:
    done = profiler.run(
        ["--mode", "discovery", "--out", str(tmp_path)],
        [str(PROGRAMS / "threads.py")],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    work = [r for r in records(tmp_path) if r["symbol_id"] == sid("threads", "work")]
    assert sum(r["count"] for r in work) == 4000
    assert {r["caller_symbol_id"] for r in work} == {sid("threads", "worker")}
    manifest = windows(tmp_path)[-1].manifest
    assert manifest["counts"] == "exact"
    hook, compiled = KINDS[profiler.name]  # the profiler asked for ran, not a fallback
    assert manifest["profiler"] == {"hook": hook, "compiled": compiled, "fallback": None}


def test_a_forked_child_writes_its_own_trace(tmp_path: Path, profiler: Variant) -> None:
    done = profiler.run(
        ["--mode", "discovery", "--out", str(tmp_path)],
        [str(PROGRAMS / "forks.py")],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    by_pid: dict[int, set[str]] = {}
    for window in windows(tmp_path):
        assert {r["pid"] for r in window.records} <= {window.manifest["pid"]}
        by_pid.setdefault(window.manifest["pid"], set()).update(
            r["symbol_id"] for r in window.records
        )
    assert len(by_pid) == 2
    child = next(ids for ids in by_pid.values() if sid("forks", "child_only") in ids)
    parent = next(ids for ids in by_pid.values() if sid("forks", "parent_only") in ids)
    assert sid("forks", "parent_only") not in child
    assert sid("forks", "child_only") not in parent


def test_sigterm_flushes_the_window(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-S", "-m", "stella_probe", "run", "--mode", "discovery",
         "--out", str(tmp_path), "--", str(PROGRAMS / "sleeper.py")],
        cwd=PROGRAMS, env=probe_env(), stdout=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == -signal.SIGTERM  # still dies of SIGTERM
    ticks = [r for r in records(tmp_path) if r["symbol_id"] == sid("sleeper", "tick")]
    assert ticks and ticks[0]["count"] >= 2


def test_a_refused_write_drops_the_window_and_counts_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file where the directory should be")
    done = run_probe(["--mode", "discovery", "--sample", "0.3/0", "--out", str(out)],
                     [str(PROGRAMS / "recovering_disk.py"), str(out)], cwd=PROGRAMS)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    found = windows(out)
    assert found, "windows after the disk recovered are written"
    assert found[-1].manifest["dropped"] >= 1
    assert all(w.manifest["window"]["start"] < w.manifest["window"]["end"] for w in found)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-written window


def test_an_internal_error_disables_the_probe_and_is_reported(
    tmp_path: Path, profiler: Variant
) -> None:
    done = profiler.run(
        ["--mode", "discovery", "--out", str(tmp_path)],
        [str(PROGRAMS / "breaks_probe.py")],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"  # the program went on
    manifest = windows(tmp_path)[-1].manifest
    assert manifest["disabled"] is True
    assert "relpath is broken" in manifest["error"]


def test_memory_follows_distinct_keys_not_calls(tmp_path: Path, profiler: Variant) -> None:
    module = tmp_path / "mod" / "many_funcs.py"
    module.parent.mkdir()
    module.write_text("".join(f"def f{i:03d}():\n    return {i}\n\n\n" for i in range(300)))
    out = tmp_path / "out"
    done = profiler.run(
        ["--mode", "discovery", "--max-keys", "50", "--out", str(out)],
        [str(PROGRAMS / "many.py"), str(module.parent)],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    (window,) = windows(out)
    assert len(window.records) == 50
    assert window.manifest["counts"] == "incomplete"
    assert window.manifest["calls_not_recorded"] >= 250 * 3


def bare_venv(where: Path) -> Path:
    """A fresh environment holding only the probe, laid out as its wheel installs it (the
    package and ``stella_probe.pth`` in site-packages): no server dependency anywhere."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-c", query],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    shutil.copytree(REPO / "probe" / "src" / "stella_probe", Path(site) / "stella_probe")
    shutil.copy(REPO / "probe" / "src" / "stella_probe.pth", Path(site) / "stella_probe.pth")
    return python


def test_activation_through_stella_probe_env(tmp_path: Path) -> None:
    """`STELLA_PROBE=<config>` in the environment the probe is installed in: no code change,
    even for targets in the script run as __main__ (instrumented once its functions exist)."""
    targets = tmp_path / "targets.txt"
    targets.write_text("loop:work\n")
    config = tmp_path / "probe.json"
    settings = {"mode": "targeted", "targets": "targets.txt", "window": 30,
                "out": str(tmp_path / "out"), "project_root": str(PROGRAMS)}  # fmt: skip
    config.write_text(json.dumps(settings))
    python = bare_venv(tmp_path / "venv")
    env = {k: v for k, v in probe_env(STELLA_PROBE=str(config)).items() if k != "PYTHONPATH"}
    done = subprocess.run([str(python), str(PROGRAMS / "loop.py"), "1.5"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (window,) = windows(tmp_path / "out")
    assert window.manifest["targets_total"] == 1
    assert window.manifest["targets_instrumented"] == 1
    assert [r["symbol_id"] for r in window.records] == [sid("loop", "work")]
    no_probe = subprocess.run([str(python), "-c", "import sys; print(sorted(sys.modules))"],
                              env={k: v for k, v in env.items() if k != "STELLA_PROBE"},
                              capture_output=True, text=True, check=True)  # fmt: skip
    assert "stella_probe" not in no_probe.stdout  # unset: the hook imports nothing


def test_a_bad_config_leaves_the_application_running(tmp_path: Path) -> None:
    config = tmp_path / "probe.json"
    config.write_text(json.dumps({"mode": "everything"}))
    env = probe_env(STELLA_PROBE=str(config))
    done = subprocess.run([sys.executable, "-c", "import stella_probe._hook; print('ran')"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.strip() == "ran"
    assert "stella-probe: not started" in done.stderr and "mode" in done.stderr


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    bad = run_probe(["--sample", "often"], [str(PROGRAMS / "threads.py")], cwd=PROGRAMS)
    assert bad.returncode == 2 and "sample" in bad.stderr
    missing = run_probe([], [str(tmp_path / "nope.py")], cwd=PROGRAMS)
    assert missing.returncode == 2 and "no such script" in missing.stderr
    targets = tmp_path / "t.txt"
    targets.write_text("ok.mod:f\nnot a target\n")
    refused = run_probe(["--targets", str(targets)], [str(PROGRAMS / "threads.py")], cwd=PROGRAMS)
    assert refused.returncode == 2 and f"{targets}:2" in refused.stderr
    assert not os.path.exists(PROGRAMS / "stella-probe-out")


def test_the_duty_cycle_rearms_running_threads(tmp_path: Path, profiler: Variant) -> None:
    """Off phases cost nothing (profilers removed); every on phase sees the main thread's loop
    again. A running thread that allocates nothing and raises no audit event cannot be re-armed
    before Python 3.12: the manifest then says so (threads_parked, counts incomplete)."""
    done = profiler.run(
        ["--mode", "discovery", "--sample", "0.3/0.3", "--out", str(tmp_path)],
        [str(PROGRAMS / "loop.py"), "2.2", "thread"],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    found = windows(tmp_path)
    assert len(found) >= 3
    for window in found[:-1]:  # the last may be cut short by the exit
        callers = {r.get("caller_symbol_id") for r in window.records
                   if r["symbol_id"] == sid("loop", "work")}  # fmt: skip
        assert sid("loop", "") in callers, window.manifest["window"]  # the main thread
        if KINDS[profiler.name][0] == "monitoring":  # global: no thread is ever parked
            assert window.manifest["threads_parked"] == 0
            assert sid("loop", "in_thread") in callers
        if sid("loop", "in_thread") not in callers:
            assert profiler.version < (3, 12)
            assert window.manifest["threads_parked"] == 1
            assert window.manifest["counts"] == "incomplete"
        assert window.manifest["sample"] == [0.3, 0.3]
    assert found[0].manifest["threads_parked"] == 0  # the first window saw every thread


def test_an_application_signal_handler_s_exception_reaches_the_application(
    tmp_path: Path, profiler: Variant
) -> None:
    """A review found the probe swallowed a job timeout raised by a SIGALRM handler while it
    resolved a function: the job went on forever. It is the application's exception."""
    done = profiler.run(
        ["--mode", "discovery", "--out", str(tmp_path)],
        [str(PROGRAMS / "alarm_timeout.py")],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timeout: the job ran out of time"
    manifest = windows(tmp_path)[-1].manifest
    assert manifest["disabled"] is True
    assert "interrupted by the application's JobTimeout" in manifest["error"]


def test_a_child_forked_while_the_resolver_is_busy_runs_on(
    tmp_path: Path, profiler: Variant
) -> None:
    done = profiler.run(
        ["--mode", "discovery", "--out", str(tmp_path)],
        [str(PROGRAMS / "fork_during_resolve.py")],
        cwd=PROGRAMS,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "child"


@pytest.mark.parametrize("python", monitoring_pythons(), ids=lambda p: Path(p).parts[-3])
@pytest.mark.parametrize("taken", ["all", "others", "profiler", "cprofile"])
def test_monitoring_takes_a_free_tool_id_or_falls_back_to_setprofile(
    tmp_path: Path, python: str, taken: str, site_for: Callable[[str], dict[str, str]]
) -> None:
    """Both sys.monitoring tool ids the probe may take taken (the two PEP 669 leaves
    unassigned; never the debugger's, coverage's, the profiler's or the optimizer's):
    discovery runs on setprofile and the manifest says why. The profiler's id taken before
    the probe starts, or the application's own cProfile started under it (cProfile is
    PROFILER_ID's on 3.12+): the probe runs on its own id, and the application's profiler
    works. Either way the same records, and `stop()` leaves the ids as it found them."""
    done = subprocess.run(
        [python, "-S", str(PROGRAMS / "tools_taken.py"), str(tmp_path), taken],
        cwd=PROGRAMS, env=probe_env(**site_for(python)), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kind, holders = done.stdout.split(" ", 1)
    (window,) = windows(tmp_path)
    profiler = window.manifest["profiler"]
    if taken in ("all", "others"):
        assert kind == "compiled"
        assert profiler["hook"] == "setprofile"
        assert "every tool id it may take is taken" in profiler["fallback"]
        held = range(6) if taken == "all" else (3, 4)
        assert holders.strip() == str([f"other-{t}" if t in held else None for t in range(6)])
    else:
        assert kind == "monitoring"
        assert profiler == {"hook": "monitoring", "compiled": True, "fallback": None}
        held = "other-2" if taken == "profiler" else None
        assert holders.strip() == str([None, None, held, None, None, None])  # freed
    work = [r for r in window.records if r["symbol_id"] == sid("tools_taken", "work")]
    assert [(r["count"], r["caller_symbol_id"]) for r in work] == [(1, sid("tools_taken", "main"))]
    assert window.manifest["counts"] == "exact"


@pytest.mark.parametrize("broken", ["break", "ok"])
def test_a_disabled_probe_leaves_the_applications_profile_function_alone(
    tmp_path: Path, profiler: Variant, broken: str
) -> None:
    """The probe disabled by its own failure, the application installs a profile function:
    the duty cycle's pauses and resumes that follow leave it installed, whichever the hook."""
    done = profiler.run(
        ["--mode", "discovery", "--sample", "0.2/0.2", "--out", str(tmp_path)],
        [str(PROGRAMS / "keeps_app_profiler.py"), broken],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]
    assert windows(tmp_path)[-1].manifest["disabled"] is (broken == "break")


def calls_of(out: Path, module: str, qualname: str) -> int:
    """How many calls of ``module.qualname`` the windows in ``out`` counted."""
    return sum(r["count"] for r in records(out) if r["symbol_id"] == sid(module, qualname))


def sees_threads_threading_did_not_start(profiler: Variant) -> bool:
    """sys.monitoring sees every thread; threading.setprofile never reaches one `threading`
    did not start (`_thread`, C code: docs/probe.md, Modes)."""
    return KINDS[profiler.name][0] == "monitoring"


def test_tables_of_threads_threading_did_not_start_go_when_they_end(
    tmp_path: Path, profiler: Variant
) -> None:
    """Threads started with `_thread` have dummy Thread objects that never end: the probe
    must still fold and drop their tables once they ended (memory follows keys, not
    threads), and count what they did."""
    done = profiler.run(
        ["--mode", "discovery", "--out", str(tmp_path)],
        [str(PROGRAMS / "raw_threads.py")],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) <= 1  # the main thread's at most
    assert calls_of(tmp_path, "raw_threads", "work") == (
        50 if sees_threads_threading_did_not_start(profiler) else 0
    )


@needs_compiler
def test_c_code_calling_back_from_its_thread_counts_into_one_table(
    tmp_path: Path, profiler: Variant
) -> None:
    """A thread C started calls Python 2,000 times, each call with a thread state (and
    thread-local data) of its own: the probe keeps one table for that thread, not one per
    call (memory follows keys, not calls), and counts every call the hook sees."""
    library = tmp_path / "c_callbacks.so"
    subprocess.run([COMPILER, "-shared", "-fPIC", "-O1", "-o", str(library),
                    str(PROGRAMS / "c_callbacks.c"), "-lpthread"], check=True)  # fmt: skip
    out = tmp_path / "out"
    done = profiler.run(
        ["--mode", "discovery", "--out", str(out)],
        [str(PROGRAMS / "c_callbacks.py"), str(library)],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) <= 2  # the main thread's and the C thread's at most
    assert calls_of(out, "c_callbacks", "work") == (
        2000 if sees_threads_threading_did_not_start(profiler) else 0
    )


def test_an_unknown_hook_is_refused(tmp_path: Path) -> None:
    done = run_probe(["--mode", "discovery", "--out", str(tmp_path)],
                     [str(PROGRAMS / "threads.py")], cwd=PROGRAMS,
                     env={"STELLA_PROBE_HOOK": "ptrace"})  # fmt: skip
    assert done.returncode == 2
    assert "STELLA_PROBE_HOOK" in done.stderr and "ptrace" in done.stderr
