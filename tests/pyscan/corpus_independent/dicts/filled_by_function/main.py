def handler():
    return "handled"


def install(key="x"):
    HOOKS[key] = handler


HOOKS = {}
install()
HOOKS["x"]()
