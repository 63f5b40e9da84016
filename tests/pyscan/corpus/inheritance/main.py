"""Inheritance: inherited methods, overrides, and self calls that may reach a subclass."""


class Shape:
    def __init__(self, name):
        self.name = name

    def area(self):
        return 0

    def describe(self):
        return f"{self.name}: {self.area()}"


class Square(Shape):
    def __init__(self, side):
        Shape.__init__(self, "square")
        self.side = side

    def area(self):
        return self.side * self.side


class Circle(Shape):
    def area(self):
        return 3 * self.r()

    def r(self):
        return 1


def report():
    shapes = [Square(2), Circle("circle")]
    square = Square(3)
    print(square.describe())
    return len(shapes)


if __name__ == "__main__":
    report()
