"""Values returned from functions: factories of objects and of functions, method chains."""


class Builder:
    def __init__(self):
        self.parts = []

    def add(self, part):
        self.parts.append(part)
        return self

    def build(self):
        return "".join(self.parts)


class Plugin:
    def run(self):
        return "run"


def make_builder():
    return Builder()


def pick(kind):
    def fast():
        return "fast"

    def slow():
        return "slow"

    return fast if kind == "fast" else slow


def make_plugin() -> Plugin:
    return Plugin()


def main():
    make_builder().add("a").add("b").build()
    pick("fast")()
    plugin = make_plugin()
    plugin.run()


if __name__ == "__main__":
    main()
