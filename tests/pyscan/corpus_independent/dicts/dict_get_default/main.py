def a(): return 1
def b(): return 2
def fallback(): return 3
TABLE = {"a": a, "b": b}
def main():
    return TABLE.get("a", fallback)()
main()
