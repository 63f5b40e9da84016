"""Threads started with `_thread` (as C code and some servers start theirs): `threading` gives
each a dummy Thread that never ends. Each calls work() once; once they ended, waits (10 s at
the most) for the probe's folds (every 0.5 s) to drop their tables, and prints how many
per-thread tables the probe still keeps."""

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
probe = _probe.current()
deadline = time.monotonic() + 10
while len(probe.states) > 1 and time.monotonic() < deadline:
    time.sleep(0.1)
print(len(probe.states))
