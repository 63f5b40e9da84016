def describe(self, formatter):
    return formatter(self.name)


def shout(text):
    return text.upper()


class Item:
    name = "item"
    render = describe


Item().render(shout)
