class Multiplier:
    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        return x * self.k


def apply(fn, x):
    return fn(x)


def main():
    double = Multiplier(2)
    double(3)
    return apply(double, 4)


main()
