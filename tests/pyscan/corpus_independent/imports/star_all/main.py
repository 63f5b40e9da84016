from shapes import *


def circle():
    return "local circle"


def main():
    square()
    circle()


main()
