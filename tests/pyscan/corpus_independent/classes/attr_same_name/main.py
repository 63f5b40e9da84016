class Foo:
    def run(self): return 1
class Bar:
    def run(self): return 2
class A:
    def __init__(self): self.x = Foo()
    def go(self): return self.x.run()
class B:
    def __init__(self): self.x = Bar()
    def go(self): return self.x.run()
A().go()
B().go()
