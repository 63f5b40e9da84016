from . import helpers
from .helpers import fmt
from .db.store import save


def serve():
    helpers.prepare()
    save(fmt("x"))
