class Base:
    def __init__(self):
        self.ready = True


class Child(Base):
    def act(self):
        return self.ready


def main():
    return Child().act()


main()
