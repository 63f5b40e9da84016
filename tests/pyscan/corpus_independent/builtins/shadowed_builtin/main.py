def len(x):
    return 42


def main():
    print("no edge for print")
    return len([1, 2])


main()
