def risky():
    return 1


def cleanup():
    return 2


def success():
    return 3


def main():
    try:
        risky()
    except ValueError:
        pass
    else:
        success()
    finally:
        cleanup()


main()
