"""Context managers: __enter__/__exit__ of a class, the object bound by `as`, async ones."""


class Resource:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def read(self):
        return self.name

    def close(self):
        return None


class Session:
    async def __aenter__(self):
        return Resource("async")

    async def __aexit__(self, *exc):
        return False


def use():
    with Resource("file") as res:
        res.read()


async def use_async():
    async with Session() as res:
        res.read()


if __name__ == "__main__":
    use()
