from lib import *

_helper = None


def main():
    public()


main()
