def target():
    return 1


def call_it(fn):
    return fn()


options = {"fn": target}
call_it(**options)
