class Greeter:
    def hello(self):
        return "hi"


class Other:
    def hello(self):
        return "other"


def main():
    g = Greeter()
    return g.hello()


main()
