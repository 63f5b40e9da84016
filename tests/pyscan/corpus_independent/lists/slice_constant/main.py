def load():
    return "load"


def parse():
    return "parse"


def store():
    return "store"


PIPELINE = [load, parse, store]


def main():
    rest = PIPELINE[1:]
    rest[0]()
    PIPELINE[-1:][0]()


main()
