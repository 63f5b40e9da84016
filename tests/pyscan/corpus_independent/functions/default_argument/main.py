def default_handler():
    return "default"


def custom():
    return "custom"


def run(handler=default_handler):
    return handler()


run()
run(custom)
