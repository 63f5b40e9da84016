class Temperature:
    def __init__(self):
        self._c = 0

    @property
    def fahrenheit(self):
        return self._c * 9 / 5 + 32

    @fahrenheit.setter
    def fahrenheit(self, value):
        self._c = (value - 32) * 5 / 9


def main():
    t = Temperature()
    t.fahrenheit = 212
    return t.fahrenheit


main()
