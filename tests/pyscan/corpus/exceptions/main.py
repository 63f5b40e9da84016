"""Exceptions: raising custom exceptions (constructors), handlers calling their methods."""


class AppError(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code

    def describe(self):
        return f"{self.code}: {self}"


class NotFound(AppError):
    pass


class Plain(Exception):
    pass


def lookup(key):
    if key != "ok":
        raise NotFound("missing", 404)
    return key


def fail_plain():
    raise Plain("plain")


def cleanup():
    return None


def main():
    try:
        lookup("x")
    except AppError as error:
        error.describe()
    finally:
        cleanup()
    try:
        fail_plain()
    except (Plain, ValueError):
        pass


if __name__ == "__main__":
    main()
