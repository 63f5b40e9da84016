"""A long-running loop (argv: seconds) calling work()."""

import sys
import time


def work(i):
    return i + 1


start = time.time()
i = 0
while time.time() - start < float(sys.argv[1]):
    i = work(i)
    time.sleep(0.01)
