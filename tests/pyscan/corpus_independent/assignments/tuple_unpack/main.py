def red():
    return "r"


def blue():
    return "b"


def main():
    a, b = red, blue
    return a()


main()
