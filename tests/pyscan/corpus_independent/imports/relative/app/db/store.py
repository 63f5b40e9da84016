from ..helpers import fmt


def save(x):
    return fmt(x)
