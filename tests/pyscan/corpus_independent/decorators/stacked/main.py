def outer(fn):
    def outer_wrap():
        return fn()
    return outer_wrap


def inner(fn):
    def inner_wrap():
        return fn()
    return inner_wrap


@outer
@inner
def core():
    return 1


core()
