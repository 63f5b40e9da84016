"""Closures: inner functions returned and called later, a counter with nonlocal state."""


def make_counter():
    count = 0

    def increment():
        nonlocal count
        count += 1
        return count

    return increment


def make_greeter(greeting):
    def helper(name):
        return f"{greeting}, {name}"

    def greet(name):
        return helper(name)

    return greet


def outer():
    def inner():
        return 1

    return inner()


def main():
    counter = make_counter()
    counter()
    make_greeter("hi")("bob")
    outer()


if __name__ == "__main__":
    main()
