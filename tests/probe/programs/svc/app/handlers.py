"""Handlers of a small service: the targets of the targeted-mode tests."""

import functools


def traced(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def hot(n):
    """Called all the time."""
    return n + 1


def cold():
    return "never called"


@traced
def decorated(x):
    return x * 2


def by_id():
    return "named by its symbol id"


class Api:
    def get(self, key):
        return {"key": key}


def outer():
    def inner():
        return 7

    return inner()
