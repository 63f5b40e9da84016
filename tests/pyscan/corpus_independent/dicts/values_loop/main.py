def one():
    return 1


def two():
    return 2


def main():
    hooks = {"x": one}
    hooks["y"] = two
    return [hook() for hook in hooks.values()]


main()
