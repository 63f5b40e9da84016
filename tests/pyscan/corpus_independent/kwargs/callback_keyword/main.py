def on_done():
    return "done"


def on_error():
    return "error"


def process(*, success, failure):
    return success()


process(success=on_done, failure=on_error)
