def first():
    return 1


def second():
    return 2


def main():
    steps = [first]
    steps.append(second)
    for step in steps:
        step()


main()
