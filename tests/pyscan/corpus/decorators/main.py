"""Decorators: a wrapper, a decorator factory, a registering decorator, a class decorator."""

import functools

REGISTRY = {}


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        print("calling", fn.__name__)
        return fn(*args, **kwargs)

    return wrapper


def repeat(times):
    def decorate(fn):
        def run(*args):
            for _ in range(times):
                fn(*args)

        return run

    return decorate


def register(fn):
    REGISTRY[fn.__name__] = fn
    return fn


def tag(cls):
    cls.tagged = True
    return cls


@logged
def greet(name):
    return "hello " + name


@repeat(2)
def ping():
    print("ping")


@register
def plugin():
    return "plugin"


@tag
class Service:
    def start(self):
        return greet("service")


def main():
    greet("world")
    ping()
    REGISTRY["plugin"]()
    Service().start()


if __name__ == "__main__":
    main()
