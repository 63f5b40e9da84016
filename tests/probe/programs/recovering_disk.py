"""The probe's output directory is blocked (a file stands in its place) for the first windows,
then the disk "recovers"."""

import os
import sys
import time


def step():
    return 1


blocker = sys.argv[1]
start = time.time()
while time.time() - start < 0.8:
    step()
    time.sleep(0.01)
os.remove(blocker)
while time.time() - start < 1.6:
    step()
    time.sleep(0.01)
print("done")
