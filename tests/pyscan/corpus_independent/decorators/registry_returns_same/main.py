HANDLERS = []


def register(fn):
    HANDLERS.append(fn)
    return fn


@register
def on_start():
    return "start"


def fire():
    for handler in HANDLERS:
        handler()


on_start()
fire()
