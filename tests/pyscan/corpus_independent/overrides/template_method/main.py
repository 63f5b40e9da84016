class Report:
    def render(self):
        return self.header() + self.body()

    def header(self):
        return "H"

    def body(self):
        return "base body"


class Sales(Report):
    def body(self):
        return "sales"


Report().render()
Sales().render()
