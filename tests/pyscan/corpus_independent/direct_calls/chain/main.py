def c():
    return 3


def b():
    return c()


def a():
    return b()


a()
