"""super(): constructors up the chain, cooperative methods along a diamond's MRO."""


class Base:
    def __init__(self):
        self.log = []

    def save(self):
        self.log.append("base")


class Timestamped(Base):
    def save(self):
        self.log.append("time")
        super().save()


class Audited(Base):
    def __init__(self):
        super().__init__()
        self.audited = True

    def save(self):
        self.log.append("audit")
        super().save()


class Record(Timestamped, Audited):
    def __init__(self, name):
        super().__init__()
        self.name = name


def main():
    record = Record("r")
    record.save()
    return record


if __name__ == "__main__":
    main()
