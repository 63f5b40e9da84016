class Resource:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return 1


def main():
    with Resource() as r:
        r.use()


main()
