class Shape:
    def area(self):
        return 0


class Square(Shape):
    def area(self):
        return 4


def main():
    s = Shape()
    return s.area()


main()
