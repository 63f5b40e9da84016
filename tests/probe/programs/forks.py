"""The parent and a forked child each call their own function."""

import os
import sys


def parent_only():
    return "parent"


def child_only():
    return "child"


pid = os.fork()
if pid == 0:
    child_only()
    sys.exit(0)
parent_only()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
