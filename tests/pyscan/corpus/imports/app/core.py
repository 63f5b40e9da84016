from . import util
from .util.text import shout as loud


class Engine:
    def __init__(self):
        self.ready = util.check()

    def go(self):
        return loud("go")


def run_engine():
    return Engine().go()
