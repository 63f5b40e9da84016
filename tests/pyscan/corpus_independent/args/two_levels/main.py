def leaf(x):
    return x


def inner(fn, value):
    return fn(value)


def outer(fn):
    return inner(fn, 2)


outer(leaf)
