"""Dynamic code the scanner cannot follow: it must count it, never guess an edge."""

import importlib


class Robot:
    def walk(self):
        return "walk"

    def talk(self):
        return "talk"


def secret():
    return "secret"


def command(robot, action):
    return getattr(robot, action)()


def known(robot):
    return getattr(robot, "walk")()


def run_code(text):
    return eval(text)


def load(name):
    return importlib.import_module(name)


def main():
    robot = Robot()
    command(robot, "talk")
    known(robot)
    run_code("secret()")
    load("json")


if __name__ == "__main__":
    main()
