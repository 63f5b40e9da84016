def first():
    return 1


def second():
    return 2


def main():
    x = first
    x = second
    return x()


main()
