import tools as t
from tools import build as make


def main():
    t.build()
    make()


main()
