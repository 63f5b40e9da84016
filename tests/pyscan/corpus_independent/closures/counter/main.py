def log(x):
    return x


def make_counter():
    count = 0

    def increment():
        nonlocal count
        count += 1
        return log(count)

    return increment


def main():
    counter = make_counter()
    counter()


main()
