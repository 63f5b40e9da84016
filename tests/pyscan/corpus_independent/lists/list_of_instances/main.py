class A:
    def f(self): return 1
class B:
    def f(self): return 2
def main():
    items = [A()]
    for i in items:
        i.f()
main()
B()
