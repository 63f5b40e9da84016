from .transport import connect


class Client:
    def __init__(self):
        connect()

    def send(self):
        return "sent"
