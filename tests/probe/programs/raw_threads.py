"""Threads started with `_thread` (as C code and some servers start theirs): `threading` gives
each a dummy Thread that never ends. Each calls work() once; once they ended and the probe
folded its tables (0.5 s), prints how many per-thread tables the probe still keeps."""

import _thread
import time

from stella_probe import _probe


def work():
    return 1


def worker(done):
    work()
    done.release()


for _ in range(50):
    done = _thread.allocate_lock()
    done.acquire()
    _thread.start_new_thread(worker, (done,))
    done.acquire()
time.sleep(1.2)
probe = _probe.current()
print(len(probe.states))
