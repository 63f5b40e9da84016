def greet():
    return "hi"


def pick():
    return greet


def main():
    fn = pick()
    fn()
    pick()()


main()
