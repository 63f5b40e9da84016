import util


def util_fn():
    return "local"


def main():
    util.util_fn()


main()
