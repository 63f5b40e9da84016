def step_one():
    return 1


class Steps:
    def __init__(self):
        self.done = False

    def __iter__(self):
        return self

    def __next__(self):
        if self.done:
            raise StopIteration
        self.done = True
        return step_one


def main():
    for step in Steps():
        step()


main()
