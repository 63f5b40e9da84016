def numbers():
    yield 1
    yield 2


def letters():
    yield "a"


def everything():
    yield from numbers()
    yield from letters()


def main():
    return list(everything())


main()
