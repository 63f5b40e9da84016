def on_a():
    return "a"


def on_b():
    return "b"


def dispatch(key):
    table = {"a": on_a, "b": on_b}
    return table[key]()


dispatch("a")
dispatch("b")
