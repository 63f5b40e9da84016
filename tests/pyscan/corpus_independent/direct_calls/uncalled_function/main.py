def used():
    return 1


def unused():
    return used()


def main():
    return used


main()
