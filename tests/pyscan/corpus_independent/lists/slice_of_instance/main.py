class Path:
    def __init__(self, parts):
        self.parts = parts

    def __getitem__(self, index):
        return Path(self.parts[index])

    def render(self):
        return "/".join(self.parts)


def main():
    path = Path(["a", "b", "c"])
    return path[1:].render()


main()
