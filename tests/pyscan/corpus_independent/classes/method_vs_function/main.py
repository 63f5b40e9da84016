def helper():
    return "module"


class Tool:
    def helper(self):
        return "method"

    def run(self):
        return helper() + self.helper()


Tool().run()
