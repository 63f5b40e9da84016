class A:
    def who(self):
        return "A"


class B(A):
    def who(self):
        return "B"


class C(A):
    def who(self):
        return "C"

    def only_c(self):
        return "c"


class D(B, C):
    pass


def main():
    d = D()
    d.who()
    d.only_c()


main()
