class Store:
    def save(self): return 1
def persist(backend):
    return backend.save()
class Other:
    def save(self): return 2
persist(Other())
Store()
