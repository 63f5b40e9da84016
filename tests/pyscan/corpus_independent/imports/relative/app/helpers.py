def prepare():
    return 1


def fmt(x):
    return x
