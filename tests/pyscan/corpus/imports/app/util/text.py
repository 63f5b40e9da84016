__all__ = ["shout", "whisper"]


def shout(text):
    return text.upper()


def whisper(text):
    return text.lower()


def _private(text):
    return text
