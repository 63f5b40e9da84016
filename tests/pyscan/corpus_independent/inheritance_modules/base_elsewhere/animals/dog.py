from animals.base import Animal


class Dog(Animal):
    def sound(self):
        return "woof"
