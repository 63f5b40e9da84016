def first():
    return 1


def second():
    return 2


def main():
    steps = [first, second]
    return steps[1]()


main()
