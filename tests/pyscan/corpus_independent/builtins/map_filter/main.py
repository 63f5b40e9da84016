def double(x):
    return x * 2


def positive(x):
    return x > 0


def main():
    values = list(map(double, [1, -2]))
    return list(filter(positive, values))


main()
