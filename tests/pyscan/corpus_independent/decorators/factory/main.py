def times(n):
    def decorate(fn):
        def run():
            return [fn() for _ in range(n)]
        return run
    return decorate


@times(2)
def ping():
    return "ping"


ping()
