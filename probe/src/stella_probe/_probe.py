"""The probe: windows, the discovery profilers, fork/exit/SIGTERM handling, shipping.

Safety rules every path here follows: nothing raises into the application (an internal error
disables the probe and is written in the next manifest), nothing the application calls waits
on I/O (windows are written by the probe's own thread), memory grows with distinct keys, not
with calls.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
import weakref
from datetime import datetime, timezone
from types import CodeType, FrameType
from typing import Any, Callable, Optional

from stella_probe._config import DEFAULT_SAMPLE, Config, ConfigError
from stella_probe._identity import BARRIER, RECORD, Resolver, Symbol, container_id
from stella_probe._ship import Uploader, write_window
from stella_probe._sign import SigningFailed, WindowSigner, load_signer, runtime_statement
from stella_probe._targeted import Targeted

__all__ = ["Probe", "current", "start"]

SCHEMA = "stella.probe-manifest/v1"
#: How often the probe's thread wakes to fold finished threads' counts in (seconds).
#: How long `Probe.stop` waits for a window the loop thread is writing.
_STOP_JOIN = 10.0
_TICK = 0.5
#: Python >= 3.12: sets (or clears) the profiler of every running thread.
_SETPROFILE_ALL = getattr(threading, "setprofile_all_threads", None)


def _threading_profile() -> object:
    """The profile function `threading` gives new threads (``threading.getprofile`` is 3.10+)."""
    getprofile = getattr(threading, "getprofile", None)
    if getprofile is not None:
        return getprofile()
    return getattr(threading, "_profile_hook", None)


_current: Optional[Probe] = None  # noqa: UP045 - evaluated at run time on Python 3.9
#: Set (to anything but "" or "0") to run discovery's pure-Python profiler even where the
#: compiled one (`stella_probe._cprofile`, docs/adr/0009) was built.
PURE_PYTHON_ENV = "STELLA_PROBE_PURE_PYTHON"
#: Discovery's hook, read when the probe starts: "monitoring" (`sys.monitoring`'s PY_START,
#: Python >= 3.12 with the GIL) or "setprofile"; unset or empty: the default, monitoring where
#: it exists (the cheapest, measured: docs/adr/0009 addendum), else setprofile.
HOOK_ENV = "STELLA_PROBE_HOOK"
HOOKS = ("monitoring", "setprofile")
#: whether this Python offers what the monitoring hook needs (free-threaded builds: no; the
#: compiled callback relies on the GIL, and so does the shared table)
MONITORING = sys.version_info >= (3, 12) and not sysconfig.get_config_var("Py_GIL_DISABLED")
_monitoring: Any = getattr(sys, "monitoring", None)
#: the tool ids tried in turn: the two PEP 669 leaves unassigned, never one it assigns (the
#: debugger's 0, coverage's 1, the profiler's 2 -- cProfile's on 3.12+ --, the optimizer's 5):
#: a debugger, coverage or profiler the application starts later must find its id free; with
#: both taken discovery falls back to setprofile
_TOOL_IDS = (3, 4)
_TOOL_NAME = "stella-probe"
#: set once a probe of this process answered DISABLE: the next one restarts the events, as
#: what one probe never records (say the standard library) another may (``include_stdlib``)
_DISABLED_EVENTS = [False]


def discovery_hook() -> tuple[str, str | None]:
    """(the hook discovery uses, why it is not the one asked for); ``STELLA_PROBE_HOOK``
    naming neither hook is refused (`ConfigError`)."""
    asked = os.environ.get(HOOK_ENV, "")
    if asked not in ("", *HOOKS):
        raise ConfigError(f"{HOOK_ENV}: {asked!r} is neither 'monitoring' nor 'setprofile'")
    if asked == "setprofile" or (asked == "" and not MONITORING):
        return "setprofile", None
    if not MONITORING:
        return "setprofile", "sys.monitoring needs Python 3.12 or later with the GIL"
    return "monitoring", None


def compiled_profiler() -> Any:
    """The compiled profiler's module, or None: not built (no compiler when the probe was
    installed, another Python version) or refused by ``STELLA_PROBE_PURE_PYTHON``."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        from stella_probe import _cprofile
    except ImportError:
        return None
    return _cprofile


def current() -> Probe | None:
    return _current


def start(config: Config) -> Probe:
    """Start the (one) probe of this process."""
    global _current
    if _current is not None:
        return _current
    probe = Probe(config)
    _current = probe
    probe.start()
    return probe


class _Token:
    """Kept only in a thread's thread-local data: while a weak reference to it answers, the
    thread runs."""

    __slots__ = ("__weakref__",)


class _ThreadState:
    __slots__ = ("alive", "counts", "overflow", "recorder", "thread")

    def __init__(
        self, thread: threading.Thread | None, alive: Callable[[], bool] | None = None
    ) -> None:
        #: None: every thread's (the monitoring hook's compiled callback), never finished
        self.thread = thread
        #: whether the thread still runs, where ``thread.is_alive()`` cannot tell: a thread
        #: `threading` did not start (``_thread``, C code) has a dummy Thread, alive forever
        self.alive = alive
        #: (callee Symbol, caller symbol id or None) → [count, first seen]
        self.counts: dict[tuple[Symbol, str | None], list[Any]] = {}
        self.overflow = 0
        #: the compiled profiler of this thread, which keeps the counts itself
        self.recorder: Any = None

    def take(self) -> tuple[dict[tuple[Symbol, str | None], list[Any]], int]:
        """The counts and overflow so far, reset (the thread goes on counting)."""
        if self.recorder is not None:
            return self.recorder.take()  # type: ignore[no-any-return]
        counts, self.counts = self.counts, {}
        overflow, self.overflow = self.overflow, 0
        return counts, overflow


def _rfc3339(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


def _read_container() -> str | None:
    for path in ("/proc/self/cgroup", "/proc/self/mountinfo"):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                found = container_id(handle.read())
        except OSError:
            continue
        if found:
            return found
    return None


class Probe:
    def __init__(self, config: Config) -> None:
        self.config = config
        #: None unless ``sign_key``; a key that cannot sign is refused here (ConfigError)
        self.signer: WindowSigner | None = load_signer(config.sign_key) if config.sign_key else None
        self.resolver = Resolver(
            config.project_root, config.project_purl, include_stdlib=config.include_stdlib
        )
        self.container = _read_container()
        self.process_name = config.process_name or os.path.basename(sys.argv[0] or sys.executable)
        self.error: str | None = None
        self.disabled = False
        self.dropped = 0
        self.seq = 0
        self.lock = threading.RLock()
        self.on = [False]
        self.states: list[_ThreadState] = []
        #: the monitoring closure's tables by thread ident: a thread state that comes and goes
        #: under one thread (C code calling Python through PyGILState_Ensure gets new
        #: thread-local data each time) counts into its thread's table, not a new one per call
        self.monitored: dict[int, _ThreadState] = {}
        #: thread ident → (thread, its profiler); idents of threads parked by the duty cycle
        self.profilers: dict[
            int, tuple[threading.Thread, Callable[[FrameType, str, Any], None]]
        ] = {}
        self.parked: set[int] = set()
        self.audit_hooked = False
        self.pending: Any = None
        self.parked_at_end: int | None = None
        self.folded: dict[tuple[Symbol, str | None], list[Any]] = {}
        self.overflow = 0
        self.targeted: Targeted | None = None
        self.uploader: Uploader | None = None
        self.window_start = time.time()
        self.wake = threading.Event()
        self.stopped = False
        self.sample = config.sample
        if config.mode == "discovery" and self.sample is None:
            self.sample = DEFAULT_SAMPLE
        self.thread: threading.Thread | None = None
        #: discovery's compiled profiler (None: the pure-Python one runs)
        self.core: Any = None
        self.new_recorder: Callable[[], Any] | None = None
        cprofile = compiled_profiler() if config.mode == "discovery" else None
        self.cprofile: Any = cprofile
        if cprofile is not None:
            core = self.core = cprofile.Core(
                self.resolver.resolve, self.on, config.max_keys, self._fail, self._park, time.time
            )
            self.new_recorder = lambda: cprofile.Recorder(core)
        #: "monitoring" or "setprofile"; `fallback`: why not the hook asked for (the manifest
        #: says it), e.g. every sys.monitoring tool id taken by a debugger or coverage
        self.hook, self.fallback = discovery_hook() if config.mode == "discovery" else ("", None)
        self.tool: int | None = None
        #: the monitoring hook's table for every thread (compiled callback), else None
        self.shared: _ThreadState | None = None
        self.profiler_kind = self._kind()

    def _kind(self) -> str:
        """compiled | python (setprofile), monitoring | monitoring-python."""
        if self.hook == "monitoring":
            return "monitoring" if self.core is not None else "monitoring-python"
        return "python" if self.core is None else "compiled"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._begin()
        atexit.register(self.stop)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=self.resolver.before_fork,
                after_in_parent=self.resolver.after_fork_in_parent,
                after_in_child=self._after_fork,
            )
        self._install_sigterm()

    def _begin(self) -> None:
        self.pid = os.getpid()
        if self.config.server:
            self.uploader = Uploader(
                self.config.server,
                self.config.tenant,
                self.config.token_file,
                self.config.graph_hash,
                retries=self.config.upload_retries,
                backoff=self.config.upload_backoff,
                on_drop=self._count_drop,
            )
            self.uploader.start()
        if self.config.mode == "targeted":
            if self.targeted is None:
                self.targeted = Targeted(self.config.targets, self.resolver, self._fail)
                self.targeted.install()
        self.window_start = time.time()  # after instrumenting what was already loaded
        if self.config.mode == "discovery":
            self._profile_on()
        self.thread = threading.Thread(target=self._loop, name="stella-probe", daemon=True)
        self.thread.start()
        if self.config.mode == "discovery":
            self._ignore_own_threads()

    def stop(self) -> None:
        """Flush the current window and stop (atexit, SIGTERM, or the CLI at the end)."""
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
        self.wake.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            # A window the loop is writing right now is finished (renamed into place) before
            # the process may exit, never left as a hidden staging directory; bounded, so a
            # stuck disk or signer cannot hold the application's exit for long.
            thread.join(_STOP_JOIN)
        if self.config.mode == "discovery":
            self.parked_at_end = self._parked_now()
            if not self.disabled:  # else `_fail` turned it off; what is installed now is not ours
                self._profile_off()
        self._flush(time.time())
        if self.targeted is not None:
            self.targeted.uninstall()
        if self.uploader is not None:
            self.uploader.drain(timeout=5.0)

    def _after_fork(self) -> None:
        """In a forked child: a fresh window of its own (the parent writes what came before),
        new threads (none survive fork), new locks."""
        try:
            self.lock = threading.RLock()
            self.wake = threading.Event()
            self.states = []
            self.monitored = {}
            self.shared = None
            self.profilers = {}
            self.parked = set()
            self.folded = {}
            self.overflow = 0
            self.seq = 0
            self.dropped = 0
            self.resolver.after_fork()
            if self.targeted is not None:
                self.targeted.lock = threading.RLock()
                for slot in self.targeted.slots:
                    slot.hit = False
            if self.disabled or self.stopped:
                return
            self.uploader = None
            self._begin()
        except Exception as exc:
            self._fail(exc)

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            previous = signal.getsignal(signal.SIGTERM)
        except (ValueError, OSError):
            return

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self.stop()
            if callable(previous):
                previous(signum, frame)
                return
            if previous == signal.SIG_IGN:
                return
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        try:
            signal.signal(signal.SIGTERM, on_sigterm)
        except (ValueError, OSError):
            pass

    # -- errors --------------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> bool:
        """An error while the probe worked: stop probing (the application goes on unprobed)
        and say why in the manifest of the current window. True when the exception is the
        application's own -- raised by its code that ran meanwhile, e.g. a signal handler
        raising a job timeout -- which the caller must then pass on to the application."""
        try:
            foreign = self._applications(exc)
        except Exception:
            foreign = False
        if self.disabled:
            return foreign
        self.disabled = True
        try:
            said = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        except Exception:  # e.g. at the recursion limit: the type must do
            said = type(exc).__name__
        self.error = f"interrupted by the application's {said} (passed on)" if foreign else said
        try:
            if self.config.mode == "discovery":
                self._profile_off()
            if self.targeted is not None:
                self.targeted.uninstall()
        except Exception:  # noqa: S110 - already failing: the application must go on
            pass
        return foreign

    @staticmethod
    def _applications(exc: BaseException) -> bool:
        """Whether one of the application's signal handlers raised ``exc``: it ran while the
        probe worked (the eval loop runs handlers between any two bytecodes, the probe's
        included) and its exception -- e.g. a job timeout -- is the application's. Other
        errors, even from code the application patched into the standard library, are the
        probe's: they disable it and stay out of the application."""
        handlers: set[CodeType] = set()
        for number in signal.valid_signals():
            try:
                handler = signal.getsignal(number)
            except (ValueError, OSError):
                continue
            code = getattr(getattr(handler, "__func__", handler), "__code__", None)
            if isinstance(code, CodeType):
                handlers.add(code)
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in handlers:
                return True
            tb = tb.tb_next
        return False

    def _count_drop(self) -> None:
        with self.lock:
            self.dropped += 1

    # -- discovery -----------------------------------------------------------------------------
    # Duty cycle. Off: each thread's profiler removes itself at its next event and the thread
    # is *parked* (it then costs nothing). On again: Python >= 3.12 re-arms every thread with
    # threading.setprofile_all_threads; before 3.12 no API sets another thread's profiler, so
    # parked threads re-arm themselves from inside: in a gc callback (run by the thread whose
    # allocations start a collection) or an audit hook (run by the thread raising the event:
    # socket, open, import...), whichever comes first; the main thread also through a
    # pending call (Py_AddPendingCall, run by the main thread between two bytecodes). A thread
    # still parked at a window's end is counted in its manifest (``threads_parked``).
    def _profile_on(self) -> None:
        if self.disabled:
            return
        if self.hook == "monitoring" and self._monitoring_on():
            return
        self.on[0] = True
        threading.setprofile(self._thread_bootstrap)
        self._arm(self._thread_profiler())
        if _SETPROFILE_ALL is not None:
            _SETPROFILE_ALL(self._thread_bootstrap)

    # Once disabled (`_fail`, which turned the hook off) the duty cycle touches nothing: the
    # profile functions the application installed since are its own. Each hook switches only
    # what it installed: the monitoring hook never calls setprofile.
    def _pause(self) -> None:
        self.on[0] = False
        if self.disabled:
            return
        if self.hook == "monitoring":  # every thread at once: none is parked
            tool = self.tool  # read once: `_fail` may free it meanwhile
            if tool is not None:
                with contextlib.suppress(ValueError):  # freed meanwhile: nothing to pause
                    _monitoring.set_events(tool, 0)
        elif _SETPROFILE_ALL is not None:
            _SETPROFILE_ALL(None)

    def _resume(self) -> None:
        if self.disabled:
            return
        self.on[0] = True
        if self.hook == "monitoring":
            tool = self.tool
            if tool is not None:
                with contextlib.suppress(ValueError):  # freed meanwhile: disabled
                    _monitoring.set_events(tool, _monitoring.events.PY_START)
        elif _SETPROFILE_ALL is not None:
            _SETPROFILE_ALL(self._thread_bootstrap)
        elif self.parked:
            if self._rearm not in gc.callbacks:
                gc.callbacks.append(self._rearm)
            if not self.audit_hooked:  # an audit hook cannot be removed: added once
                self.audit_hooked = True
                sys.addaudithook(self._rearm_on_audit)
            if threading.main_thread().ident in self.parked:
                self._pending_call()

    def _profile_off(self) -> None:
        self.on[0] = False
        if self.hook == "monitoring":
            self._monitoring_off()
            return
        # Only what is still ours: a profile function the application installed since (on
        # this thread, or for new threads) stays. On 3.12+ no API removes ours from the other
        # threads alone: setprofile_all_threads clears every thread's (the setprofile hook is
        # not the default there).
        if self._ours(_threading_profile()):
            threading.setprofile(None)
        if _SETPROFILE_ALL is not None:
            _SETPROFILE_ALL(None)
        elif self._ours(sys.getprofile()):
            sys.setprofile(None)
        if self._rearm in gc.callbacks:
            gc.callbacks.remove(self._rearm)

    def _ours(self, function: object) -> bool:
        """Whether ``function`` is a profile function this probe installed."""
        if function is None:
            return False
        if function == self._thread_bootstrap:  # a bound method: equal, not the same object
            return True
        return any(function is profiler for _, profiler in list(self.profilers.values()))

    # The monitoring hook (Python >= 3.12): one PY_START callback for every thread, new ones
    # included; the duty cycle turns the event on and off for all of them (nothing is parked).
    def _monitoring_on(self) -> bool:
        """Take a tool id (unless this process -- or the parent of this forked child --
        already holds it) and start PY_START; False when every id is taken: the setprofile
        hook then runs, and the manifest says why."""
        monitoring = _monitoring
        if self.tool is None:
            for tool in _TOOL_IDS:
                try:
                    monitoring.use_tool_id(tool, _TOOL_NAME)
                except ValueError:
                    continue
                self.tool = tool
                break
            else:
                taken = ", ".join(f"{t} {monitoring.get_tool(t)!r}" for t in sorted(_TOOL_IDS))
                self.hook = "setprofile"
                self.fallback = f"sys.monitoring: every tool id it may take is taken ({taken})"
                self.profiler_kind = self._kind()
                return False
            if _DISABLED_EVENTS[0]:
                monitoring.restart_events()
        monitoring.register_callback(
            self.tool, monitoring.events.PY_START, self._monitoring_callback()
        )
        _DISABLED_EVENTS[0] = True
        self.on[0] = True
        monitoring.set_events(self.tool, monitoring.events.PY_START)
        return True

    def _monitoring_off(self) -> None:
        """Stop the event, drop the callback, free the tool id (3.12 frees the name only)."""
        tool, self.tool = self.tool, None
        if tool is None:
            return
        monitoring = _monitoring
        monitoring.set_events(tool, 0)
        monitoring.register_callback(tool, monitoring.events.PY_START, None)
        monitoring.free_tool_id(tool)

    def _monitoring_callback(self) -> Callable[[CodeType, int], Any]:
        """A fresh PY_START callback and table(s): the compiled one (`Recorder.py_start`, one
        table for every thread, the probe's own threads ignored by ident), else a closure with
        the rules of `_profiler` and a table per thread."""
        if self.core is not None:
            recorder = self.cprofile.Recorder(self.core, _monitoring.DISABLE)
            state = _ThreadState(None)
            state.recorder = recorder
            self.shared = state
            return recorder.py_start  # type: ignore[no-any-return]
        get = self.resolver.cache.get
        resolve = self.resolver.resolve
        count = self._counter()
        fail = self._fail
        getframe = sys._getframe
        disable = _monitoring.DISABLE
        local = threading.local()
        new_state = self._monitored_thread

        def py_start(code: CodeType, offset: int) -> Any:
            try:
                frame = getframe(1)  # the frame starting (this callback is called from it)
                symbol = get(id(code))
                if symbol is None:
                    symbol = resolve(code, frame.f_globals)
                if symbol.skip:  # the standard library, the probe, a comprehension...
                    return disable  # never recorded as a callee: the interpreter stops asking
                try:
                    state = local.state
                except AttributeError:
                    state = local.state = new_state(local)
                if state is None:  # the probe's own threads
                    return None
                count(state, symbol, frame)
            except Exception as exc:
                if fail(exc):
                    raise  # the application's: out of a callback, it reaches it
            return None

        return py_start

    def _monitored_thread(self, local: threading.local) -> _ThreadState | None:
        """The calling thread's table for the monitoring closure (None: a probe thread). It
        lives as long as a token only ``local`` holds: a thread's thread-local data goes when
        the thread ends, however it was started (`_thread`, C code: `threading` gives those a
        dummy Thread that never ends)."""
        thread = threading.current_thread()
        if thread.name.startswith("stella-probe"):
            return None
        token = local.token = _Token()
        ref = weakref.ref(token)
        ident = threading.get_ident()
        with self.lock:
            state = self.monitored.get(ident)
            if state is None:
                state = self.monitored[ident] = _ThreadState(thread)
                self.states.append(state)
            state.alive = lambda: ref() is not None
        return state

    def _ignore_own_threads(self) -> None:
        """The compiled monitoring callback records nothing in the probe's own threads (its
        window writer and uploader: signing runs code from `cryptography`, say)."""
        if self.shared is None or self.shared.recorder is None:
            return
        for thread in (self.thread, self.uploader.thread if self.uploader else None):
            if thread is not None and thread.ident is not None:
                self.shared.recorder.ignore(thread.ident)

    def _park(self) -> None:
        sys.setprofile(None)
        self.parked.add(threading.get_ident())

    def _rearm(self, phase: str, info: dict[str, int]) -> None:
        try:
            if not self.on[0] or not self.parked:
                if self._rearm in gc.callbacks:
                    gc.callbacks.remove(self._rearm)
                return
            ident = threading.get_ident()
            if ident in self.parked:
                self.parked.discard(ident)
                self._arm(self._thread_profiler())
        except Exception as exc:
            self._fail(exc)

    def _pending_call(self) -> None:
        try:
            import ctypes

            if self.pending is None:
                kind = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
                self.pending = kind(self._rearm_main)
                ctypes.pythonapi.Py_AddPendingCall.argtypes = [kind, ctypes.c_void_p]
            ctypes.pythonapi.Py_AddPendingCall(self.pending, None)
        except Exception:  # noqa: S110 - not CPython: the other triggers remain
            pass

    def _rearm_main(self, _: Any) -> int:
        self._rearm("pending", {})
        return 0

    def _parked_now(self) -> int:
        """Threads the current window did not see: parked by the last pause, not re-armed."""
        return len(self.parked & {t.ident for t in threading.enumerate()})

    def _rearm_on_audit(self, event: str, args: tuple[Any, ...]) -> None:
        if self.on[0] and self.parked and threading.get_ident() in self.parked:
            self._rearm("audit", {})

    def _thread_profiler(self) -> Callable[[FrameType, str, Any], None]:
        """This thread's profiler (its own counts: no lock on the hot path)."""
        thread = threading.current_thread()
        found = self.profilers.get(thread.ident or 0)
        if found is None or found[0] is not thread:
            state = _ThreadState(thread)
            with self.lock:
                self.states.append(state)
            found = self.profilers[thread.ident or 0] = (thread, self._profiler(state))
        return found[1]

    def _thread_bootstrap(self, frame: FrameType, event: str, arg: Any) -> None:
        """The first profile event of a new thread (or, on 3.12, of a re-armed one)."""
        try:
            if threading.current_thread().name.startswith("stella-probe"):
                sys.setprofile(None)  # the probe's own threads
                return
            if not self.on[0] or self.disabled:
                self._park()
                return
            profiler = self._thread_profiler()
            self._arm(profiler)
            profiler(frame, event, arg)
        except Exception as exc:
            if self._fail(exc):
                raise

    def _arm(self, profiler: Callable[[FrameType, str, Any], None]) -> None:
        """Make ``profiler`` the calling thread's profile function."""
        if self.core is not None:
            profiler.install()  # type: ignore[attr-defined]  # PyEval_SetProfile, in C
            # PyEval_SetProfile returns nothing: on 3.10/3.11 it can fail (another thread
            # installing while audit hooks run) and only tell sys.unraisablehook
            if sys.getprofile() is not profiler:
                raise RuntimeError("the compiled profile function could not be installed")
        else:
            sys.setprofile(profiler)

    def _counter(self) -> Callable[[_ThreadState, Symbol, FrameType], None]:
        """What both Python hooks do with a call they record (`_cprofile.c` does the same): its
        caller is the nearest recorded frame above (transparent frames skipped, none past a
        barrier, none for module-level code), and the (callee, caller) key is counted in the
        thread's table, or counted as overflow once the table holds ``max_keys`` keys."""
        get = self.resolver.cache.get
        resolve = self.resolver.resolve
        limit = self.config.max_keys
        clock = time.time

        def count(state: _ThreadState, symbol: Symbol, frame: FrameType) -> None:
            caller = None
            if not symbol.module_level:
                back = frame.f_back
                while back is not None:
                    found = get(id(back.f_code))
                    if found is None:
                        found = resolve(back.f_code, back.f_globals)
                    if found.kind == RECORD:
                        caller = found.symbol_id
                        break
                    if found.kind == BARRIER:
                        break
                    back = back.f_back
            key = (symbol, caller)
            counts = state.counts
            entry = counts.get(key)
            if entry is None:
                if len(counts) >= limit:
                    state.overflow += 1
                    return
                counts[key] = [1, clock()]
            else:
                entry[0] += 1

        return count

    def _profiler(self, state: _ThreadState) -> Callable[[FrameType, str, Any], None]:
        """A thread's profiler: the compiled one (`_cprofile.c` keeps the same rules as the
        closure below), else the closure, which is also the tests' oracle."""
        if self.new_recorder is not None:
            state.recorder = self.new_recorder()
            return state.recorder  # type: ignore[no-any-return]
        get = self.resolver.cache.get
        resolve = self.resolver.resolve
        count = self._counter()
        on = self.on
        fail = self._fail
        park = self._park

        def profile(frame: FrameType, event: str, arg: Any) -> None:
            if event != "call":
                return
            if not on[0]:
                park()
                return
            try:
                symbol = get(id(frame.f_code))
                if symbol is None:
                    symbol = resolve(frame.f_code, frame.f_globals)
                if symbol.skip:  # the standard library, the probe, a comprehension...
                    return
                if symbol.first_lasti is not None and frame.f_lasti != symbol.first_lasti:
                    return  # a generator or coroutine resumed, not called
                count(state, symbol, frame)
            except Exception as exc:
                if fail(exc):
                    raise  # the application's: out of a profile function, it reaches it

        return profile

    def _fold(self, every: bool) -> None:
        """Move the counts of finished threads (or of all threads at a window's end) into the
        window's table, so that memory follows distinct keys, not threads. Under the lock: the
        probe's thread and an exit (atexit, SIGTERM) may fold at the same time."""
        with self.lock:
            keep: list[_ThreadState] = []
            taken: list[_ThreadState] = []
            for state in self.states:
                if state.alive is not None:
                    alive = state.alive()
                else:
                    alive = state.thread is not None and state.thread.is_alive()
                if alive:
                    keep.append(state)
                if every or not alive:
                    taken.append(state)
            self.states = keep
            if self.monitored:
                kept = {id(state) for state in keep}
                self.monitored = {i: st for i, st in self.monitored.items() if id(st) in kept}
            if every and self.shared is not None:
                taken.append(self.shared)
            if self.parked:
                self.parked &= {t.ident for t in threading.enumerate()}
            limit = self.config.max_keys
            for state in taken:
                counts, overflow = state.take()
                self.overflow += overflow
                for key, (count, first) in counts.items():
                    entry = self.folded.get(key)
                    if entry is not None:
                        entry[0] += count
                        entry[1] = min(entry[1], first)
                    elif len(self.folded) < limit:
                        self.folded[key] = [count, first]
                    else:
                        self.overflow += count

    # -- windows -------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            window = self.sample[0] if self.sample else self.config.window
            while not self.stopped:
                end = self.window_start + window
                while not self.stopped and time.time() < end:
                    self.wake.wait(min(_TICK, max(0.0, end - time.time())))
                    if self.config.mode == "discovery" and not self.stopped:
                        self._fold(every=False)
                    elif self.targeted is not None and not self.disabled:
                        self.targeted.poll_main()
                if self.stopped:
                    return
                if self.sample and self.sample[1] > 0 and self.config.mode == "discovery":
                    self.parked_at_end = self._parked_now()
                    self._pause()
                    self._flush(time.time())
                    if self.wake.wait(self.sample[1]) or self.stopped:
                        return
                    self.window_start = time.time()
                    self._resume()
                else:
                    self._flush(time.time())
        except Exception as exc:
            self._fail(exc)

    def _flush(self, end: float) -> None:
        """Close the current window: write its trace and manifest, hand it to the uploader."""
        with self.lock:
            start = self.window_start
            self.window_start = end
            self.seq += 1
            seq = self.seq
        try:
            records, fields = self._window_records(start)
        except Exception as exc:
            self._fail(exc)
            records, fields = [], {}
        manifest: dict[str, Any] = {
            "schema": SCHEMA,
            "mode": self.config.mode,
            "window": {"start": _rfc3339(start), "end": _rfc3339(end)},
            "python": ".".join(str(v) for v in sys.version_info[:3]),
            "pid": self.pid,
            "container": self.container,
            "targets_total": 0,
            "targets_instrumented": 0,
            "targets_pending": 0,
            "dropped": self.dropped,
            "records": len(records),
            "project_purl": self.config.project_purl,
            "probe_version": _version(),
            "error": self.error,
            "disabled": self.disabled,
        }
        manifest.update(fields)
        if self.config.mode == "discovery":
            manifest["sample"] = list(self.sample) if self.sample else None
            manifest["profiler"] = {"hook": self.hook, "compiled": self.core is not None,
                                    "fallback": self.fallback}  # fmt: skip
        name = f"window-{self.pid}-{seq:06d}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(start))}"
        try:
            written = write_window(self.config.out, name, records, manifest, sign=self._sign)
        except (OSError, SigningFailed):  # the window is lost, the application goes on
            self._count_drop()
            return
        if self.uploader is not None:
            self.uploader.submit(written)

    def _sign(self, file_name: str, trace_sha256: str, records: list[dict[str, Any]]) -> bytes:
        """The window's DSSE envelope, or nothing to write (b"") when signing is off; raises
        `SigningFailed` (the window is dropped and counted)."""
        if self.signer is None:
            return b""
        try:
            statement = runtime_statement(
                file_name=file_name,
                trace_sha256=trace_sha256,
                records=records,
                tenant=self.config.tenant,
                graph_hash=self.config.graph_hash,
            )
            return self.signer.envelope(statement)
        except Exception as exc:  # any signing fault costs this window only, never the probe
            raise SigningFailed(str(exc)) from None

    def _window_records(self, start: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        common: dict[str, Any] = {"pid": self.pid, "process_name": self.process_name}
        if self.container:
            common["container"] = self.container
        if self.targeted is not None:
            raw, fields = self.targeted.rotate(start)
            records = [dict(r, timestamp=_rfc3339(r["timestamp"]), **common) for r in raw]
            return records, fields
        with self.lock:
            self._fold(every=True)
            folded, self.folded = self.folded, {}
            overflow, self.overflow = self.overflow, 0
        records = []
        for (symbol, caller), (count, first) in sorted(
            folded.items(), key=lambda item: (item[0][0].display, item[0][1] or "")
        ):
            record = {"symbol_id": symbol.symbol_id, "purl": symbol.purl,
                      "timestamp": _rfc3339(first), "count": count, **common}  # fmt: skip
            if caller is not None:
                record["caller_symbol_id"] = caller
            records.append(record)
        parked, self.parked_at_end = self.parked_at_end, None
        parked = self._parked_now() if parked is None else parked
        fields = {"counts": "exact" if not overflow and not parked else "incomplete",
                  "threads_parked": parked,
                  "calls_not_recorded": overflow, "distinct_keys": len(records)}  # fmt: skip
        return records, fields


def _version() -> str:
    from stella_probe import __version__

    return __version__
