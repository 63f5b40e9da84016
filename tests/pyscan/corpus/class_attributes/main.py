"""Class attributes: static and class methods, a function stored on the class, cls() calls."""


def default_parser(text):
    return text.split()


class Config:
    parser = staticmethod(default_parser)
    instances = 0

    def __init__(self, text):
        self.words = self.parser(text)

    @staticmethod
    def validate(words):
        return bool(words)

    @classmethod
    def from_lines(cls, lines):
        cls.count()
        return cls(" ".join(lines))

    @classmethod
    def count(cls):
        cls.instances += 1


def main():
    config = Config.from_lines(["a b"])
    Config.validate(config.words)
    Config.parser("x y")


if __name__ == "__main__":
    main()
