"""Names bound on alternative paths: either value may be called afterwards, and a branch
never sees what a sibling branch bound."""


def fast():
    return "fast"


def slow():
    return "slow"


def fallback():
    return "fallback"


def recover():
    return "recover"


def choose(flag):
    if flag:
        pick = fast
    else:
        pick = slow
    return pick()


def sibling(flag):
    action = fallback
    if flag:
        action = fast
    else:
        action()
    return action


def guarded():
    handler = fast
    try:
        handler = slow
    except ValueError:
        handler = recover
    except KeyError:
        handler()
    return handler


def main():
    choose(True)
    sibling(False)
    guarded()


if __name__ == "__main__":
    main()
