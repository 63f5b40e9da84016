def transform(x):
    return x * 10


def accumulator():
    total = 0
    while True:
        value = yield total
        total += transform(value)


def main():
    acc = accumulator()
    next(acc)
    acc.send(1)
    acc.send(2)
    acc.close()


main()
