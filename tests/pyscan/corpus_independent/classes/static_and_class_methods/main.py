class Factory:
    def __init__(self, n):
        self.n = n

    @classmethod
    def make(cls):
        return cls(cls.default())

    @staticmethod
    def default():
        return 3


f = Factory.make()
Factory.default()
