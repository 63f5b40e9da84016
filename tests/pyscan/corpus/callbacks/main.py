"""Functions handed over as values: to builtins that call them and to Python code."""

import functools


def double(x):
    return x * 2


def is_even(x):
    return x % 2 == 0


def by_length(word):
    return len(word)


def add(a, b):
    return a + b


def apply(func, value):
    return func(value)


def apply_twice(func, value):
    return apply(func, apply(func, value))


def run(task, *extra, after=None):
    task(1)
    if after is not None:
        after(extra)


def never_called(x):
    return x


def main():
    list(map(double, [1, 2]))
    list(filter(is_even, [1, 2]))
    sorted(["a", "bb"], key=by_length)
    functools.reduce(add, [1, 2, 3])
    apply_twice(double, 3)
    handler = is_even
    handler(4)
    run(double, is_even)
    name = never_called.__name__
    return name


if __name__ == "__main__":
    main()
