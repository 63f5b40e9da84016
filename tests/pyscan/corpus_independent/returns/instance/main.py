class Conn:
    def query(self):
        return 1


class Pool:
    def get(self):
        return Conn()


def main():
    pool = Pool()
    return pool.get().query()


main()
