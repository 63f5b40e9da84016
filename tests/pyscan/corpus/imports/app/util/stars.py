from .text import *


def both(text):
    return shout(text) + whisper(text)
