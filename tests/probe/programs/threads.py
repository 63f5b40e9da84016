"""Four threads call work() 1000 times each."""

import threading


def work(i):
    return i * 2


def worker():
    for i in range(1000):
        work(i)


threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
