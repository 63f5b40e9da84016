def base():
    return 1


inc = lambda: base() + 1
inc()
