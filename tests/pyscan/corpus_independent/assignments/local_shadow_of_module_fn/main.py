def helper(): return 1
def other(): return 2
def main():
    helper = other
    return helper()
main()
