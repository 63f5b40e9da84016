"""Properties: reading one runs its getter, assigning runs its setter."""


class Temperature:
    def __init__(self, celsius):
        self._celsius = celsius

    @property
    def fahrenheit(self):
        return self._convert(self._celsius)

    @fahrenheit.setter
    def fahrenheit(self, value):
        self._celsius = (value - 32) * 5 / 9

    def _convert(self, celsius):
        return celsius * 9 / 5 + 32


def main():
    temp = Temperature(20)
    reading = temp.fahrenheit
    temp.fahrenheit = 100
    return reading


if __name__ == "__main__":
    main()
