class Q:
    def filter(self, **kw): return self
    def get(self, key): return 1
d = {}
d.get("x")
list(filter(None, [1]))
Q()
