CALLBACKS = []


def add(fn):
    CALLBACKS.append(fn)


def call_all():
    for fn in CALLBACKS:
        fn()
