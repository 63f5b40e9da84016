class AppError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.code = 7

    def describe(self):
        return f"error {self.code}"


def fail():
    raise AppError("bad")


def main():
    try:
        fail()
    except AppError as error:
        return error.describe()


main()
