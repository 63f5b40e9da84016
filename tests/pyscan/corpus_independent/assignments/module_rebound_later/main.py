def plain():
    return "plain"


def fancy():
    return "fancy"


formatter = plain


def show():
    return formatter()


show()
formatter = fancy
show()
