"""Breaks something the probe relies on (os.path.relpath): the probe must disable itself and
say so, and the program must go on as if nothing happened."""

import os.path


def before():
    return 1


def boom(*args, **kwargs):
    raise RuntimeError("relpath is broken")


before()
os.path.relpath = boom


def after():
    return 2


print(after() + before())
