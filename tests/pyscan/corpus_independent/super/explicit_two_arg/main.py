class Base:
    def run(self):
        return 1


class Mid(Base):
    def run(self):
        return 2


class Leaf(Mid):
    def run(self):
        return super(Mid, self).run()


Leaf().run()
