def f():
    return "global f"


def h():
    return "h"


def g(f):
    return f()


g(h)
