"""Every import form: absolute, alias, dotted, from-package, relative (in app), star."""

import app
import app.util.text as text_mod
from app import run_engine as start
from app.util import stars
from app.util.text import *


def main():
    app.setup()
    start()
    text_mod.whisper("x")
    stars.both("y")
    shout("z")
    app.core.Engine().go()
    app.util.check()


if __name__ == "__main__":
    main()
