"""Calls tick() then waits to be terminated."""

import time


def tick():
    return time.time()


tick()
print("ready", flush=True)
while True:
    tick()
    time.sleep(0.05)
