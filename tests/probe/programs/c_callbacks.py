"""Calls Python 2,000 times from one thread C started (argv[1]: the built c_callbacks.c), each
call with thread-local data of its own; prints how many per-thread tables the probe keeps
right after (before any fold): one per thread, not one per call."""

import ctypes
import sys

from stella_probe import _probe

library = ctypes.CDLL(sys.argv[1])
CALLBACK = ctypes.CFUNCTYPE(None)
library.call_from_a_c_thread.argtypes = [CALLBACK, ctypes.c_int]


def work():
    return 1


def callback():
    work()


keep = CALLBACK(callback)
assert library.call_from_a_c_thread(keep, 2000) == 0
print(len(_probe.current().states))
