def a(): return 1
def b(): return 2
handler = a
def main():
    return handler()
main()
