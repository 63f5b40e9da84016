"""Generators and iterators: a generator function, an iterator class, iter() and next()."""


def countdown(n):
    while n > 0:
        yield n
        n -= 1


class Range:
    def __init__(self, stop):
        self.stop = stop
        self.current = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.current >= self.stop:
            raise StopIteration
        self.current += 1
        return self.current


class Bag:
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        yield from self.items


def consume():
    total = 0
    for value in countdown(3):
        total += value
    for value in Range(2):
        total += value
    for value in Bag([1]):
        total += value
    it = Range(1)
    next(it)
    return total


if __name__ == "__main__":
    consume()
