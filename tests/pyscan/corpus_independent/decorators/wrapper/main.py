def logged(fn):
    def wrapper(*args):
        return fn(*args)
    return wrapper


@logged
def add(a, b):
    return a + b


def main():
    return add(1, 2)


main()
