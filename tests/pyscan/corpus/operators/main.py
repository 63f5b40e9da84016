"""Operators and builtins that call special methods: +, [], len(), repr()."""


class Vector:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, other):
        return Vector(self.x + other.x, self.y + other.y)

    def __getitem__(self, index):
        return (self.x, self.y)[index]

    def __len__(self):
        return 2

    def __repr__(self):
        return f"Vector({self.x}, {self.y})"


def main():
    a = Vector(1, 2)
    b = Vector(3, 4)
    c = a + b
    first = c[0]
    size = len(a)
    text = repr(b)
    return first, size, text


if __name__ == "__main__":
    main()
