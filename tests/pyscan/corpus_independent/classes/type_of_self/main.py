class Node:
    def __init__(self, value):
        self.value = value

    def clone(self):
        return type(self)(self.value)

    def copy(self):
        return self.__class__(self.value)


class Leaf(Node):
    def __init__(self, value):
        super().__init__(value)


Node(1).clone()
Node(2).copy()
Leaf(3).clone()
Leaf(4).copy()
