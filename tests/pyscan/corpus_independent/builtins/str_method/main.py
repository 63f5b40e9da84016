class Joiner:
    def join(self, parts): return "".join(parts)
    def split(self): return 1
def main(text):
    parts = text.split(",")
    return ", ".join(parts)
main("a,b")
Joiner()
