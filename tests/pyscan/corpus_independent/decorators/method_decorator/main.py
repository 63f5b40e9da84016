def checked(method):
    def wrapper(self, *args):
        self.validate()
        return method(self, *args)
    return wrapper


class Account:
    def validate(self):
        return True

    @checked
    def withdraw(self, amount):
        return amount


Account().withdraw(5)
