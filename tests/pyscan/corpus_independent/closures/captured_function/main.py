def shout(text):
    return text.upper()


def bind(fn, value):
    def call():
        return fn(value)
    return call


bound = bind(shout, "x")
bound()
