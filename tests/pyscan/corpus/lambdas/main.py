"""Lambdas: assigned, passed to sorted, stored in a dict, calling named functions."""


def square(x):
    return x * x


def negate(x):
    return -x


OPS = {"sq": lambda x: square(x), "neg": negate}


def main():
    inc = lambda x: x + 1  # noqa: E731
    inc(1)
    sorted([3, 1], key=lambda v: negate(v))
    OPS["sq"](2)
    return [square(n) for n in range(3)]


if __name__ == "__main__":
    main()
