from contextlib import contextmanager


def acquire():
    return "lock"


@contextmanager
def locked():
    acquire()
    yield


def main():
    with locked():
        pass


main()
