def work():
    return 1


def run(callback):
    return callback()


def main():
    run(work)


main()
