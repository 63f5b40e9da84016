import api
from api import Client


def main():
    api.connect()
    Client().send()


main()
