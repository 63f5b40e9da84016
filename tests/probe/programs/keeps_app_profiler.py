"""Breaks the probe (as breaks_probe.py does) when argv[1] is "break", then installs a profile
function of its own and lives through several duty cycles (run it with a short --sample):
a disabled probe must leave the application's profile function alone, when it stops too.
Prints whether it is still installed and saw events after the probe's windows went by, and
whether it is still installed once the probe stopped."""

import os.path
import sys
import time

from stella_probe import _probe


def before():
    return 1


before()
if sys.argv[1] == "break":

    def boom(*args, **kwargs):
        raise RuntimeError("relpath is broken")

    os.path.relpath = boom

    def after():
        return 2

    after()
seen = [0]


def mine(frame, event, arg):
    seen[0] += 1


sys.setprofile(mine)
time.sleep(1.2)  # several windows of --sample 0.2/0.2 open and close meanwhile
seen[0] = 0


def tick():
    return 3


tick()
after_windows = sys.getprofile() is mine, seen[0] > 0
_probe.current().stop()
print(*after_windows, sys.getprofile() is mine)
