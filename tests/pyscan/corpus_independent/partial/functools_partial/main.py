import functools
from functools import partial


def power(base, exp):
    return base ** exp


def main():
    square = partial(power, exp=2)
    cube = functools.partial(power, exp=3)
    return square(3) + cube(2)


main()
