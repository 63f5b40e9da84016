from animals.base import Animal
from animals.dog import Dog


def main():
    d = Dog("rex")
    d.describe()
    Animal("cat").describe()


main()
