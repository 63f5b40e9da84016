"""Dispatch through data: a dict of handlers, a list of hooks, a registry filled later."""


def on_start():
    return "start"


def on_stop():
    return "stop"


def hook_a():
    return "a"


def hook_b():
    return "b"


def late():
    return "late"


def unused():
    return "unused"


HANDLERS = {"start": on_start, "stop": on_stop}
HOOKS = [hook_a]
HOOKS.append(hook_b)
LATE = {}


def install():
    LATE["late"] = late


def dispatch(event):
    return HANDLERS[event]()


def run_hooks():
    for hook in HOOKS:
        hook()


def run_late(name):
    handler = LATE.get(name)
    if handler:
        handler()


def main():
    install()
    dispatch("start")
    run_hooks()
    run_late("late")
    HANDLERS["stop"]()


if __name__ == "__main__":
    main()
