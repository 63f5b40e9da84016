def fast():
    return "fast"


def slow():
    return "slow"


def choose(flag):
    if flag:
        impl = fast
    else:
        impl = slow
    return impl()


choose(True)
choose(False)
