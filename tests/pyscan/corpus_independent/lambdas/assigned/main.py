def square(x):
    return x * x


def main():
    f = lambda x: square(x) + 1
    return f(3)


main()
