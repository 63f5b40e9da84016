class Cat:
    def speak(self):
        return "meow"


class Dog:
    def speak(self):
        return "woof"


def talk(animal):
    return animal.speak()


def main():
    talk(Cat())


main()
