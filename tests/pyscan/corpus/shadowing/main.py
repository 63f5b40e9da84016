"""Traps for precision: same names in unrelated classes, rebinding, shadowing, strings."""


def process():
    return "global process"


def other():
    return "other"


class Reader:
    def process(self):
        return "reader"


class Writer:
    def process(self):
        return "writer"


def use_reader():
    reader = Reader()
    reader.process()


def rebinding():
    obj = Reader()
    obj = Writer()
    obj.process()


def shadowed(process):
    return process


def local_shadow():
    other = process
    other()


def by_name():
    name = "other"
    return name


def main():
    use_reader()
    rebinding()
    shadowed(1)
    local_shadow()
    by_name()


if __name__ == "__main__":
    main()
