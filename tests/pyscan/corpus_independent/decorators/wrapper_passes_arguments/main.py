def checked(method):
    def wrapper(self, fn):
        self.validate()
        return method(self, fn)
    return wrapper


def task():
    return "task"


class Runner:
    def validate(self):
        return True

    @checked
    def run(self, fn):
        return fn()


Runner().run(task)
