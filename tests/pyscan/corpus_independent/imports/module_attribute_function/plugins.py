import registry


def plugin_a():
    return "a"


def install():
    registry.add(plugin_a)
