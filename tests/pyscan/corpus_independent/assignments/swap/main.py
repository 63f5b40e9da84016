def red():
    return "r"


def blue():
    return "b"


def main():
    a, b = red, blue
    a, b = b, a
    return a()


main()
