def by_length(word):
    return len(word)


def by_last(word):
    return word[-1]


def main():
    words = ["bb", "a"]
    sorted(words, key=by_length)
    return max(words, key=by_last)


main()
