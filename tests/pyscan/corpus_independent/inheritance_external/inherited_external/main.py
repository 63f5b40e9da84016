import json
class Enc(json.JSONEncoder):
    def default(self, o): return str(o)
def encode():
    return json.dumps({1: object()}, cls=Enc)
encode()
