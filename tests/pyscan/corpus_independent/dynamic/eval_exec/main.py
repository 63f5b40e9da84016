def hidden():
    return 1


def visible():
    return 2


def main():
    eval("hidden()")
    return visible()


main()
