"""Imported half-way through the run."""


def f():
    return "late"
