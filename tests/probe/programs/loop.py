"""A long-running loop (argv: seconds [thread]) calling work(), with a second thread doing the
same when asked."""

import sys
import threading
import time


def work(i):
    return i + 1


def in_thread(seconds):
    start = time.time()
    i = 0
    while time.time() - start < seconds:
        i = work(i)
        time.sleep(0.01)


seconds = float(sys.argv[1])
if sys.argv[2:] == ["thread"]:
    threading.Thread(target=in_thread, args=(seconds,)).start()
start = time.time()
i = 0
while time.time() - start < seconds:
    i = work(i)
    time.sleep(0.01)
