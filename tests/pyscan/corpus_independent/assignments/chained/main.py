def target():
    return 1


a = target
b = a
b()
