def public():
    return _helper()


def _helper():
    return 1
