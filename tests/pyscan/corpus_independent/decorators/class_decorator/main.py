def add_greeting(cls):
    cls.greet = lambda self: "hello"
    return cls


@add_greeting
class Person:
    def name(self):
        return "p"


p = Person()
p.name()
p.greet()
