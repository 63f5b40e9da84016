class Base:
    def __init__(self):
        self.setup()

    def setup(self):
        return "base"


class Child(Base):
    def __init__(self):
        super().__init__()

    def setup(self):
        return "child"


Child()
