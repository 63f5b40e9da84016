"""A thread of the parent holds the probe's name resolver (it is resolving a function) at the
moment another thread forks: the child must not wait forever for that lock, which nobody in
the child will ever release."""

import os
import sys
import threading

from stella_probe._probe import current

probe = current()
held = threading.Event()
release = threading.Event()


def hold_the_resolver():
    with probe.resolver._lock:
        held.set()
        release.wait(0.5)  # a resolution that takes its time


held.wait(0)  # everything the main thread calls below is resolved already
release.wait(0)
holder = threading.Thread(target=hold_the_resolver)
holder.start()
held.wait(10)
pid = os.fork()
if pid == 0:

    def first_seen_in_the_child():
        return "child"

    print(first_seen_in_the_child(), flush=True)
    os._exit(0)
holder.join()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
