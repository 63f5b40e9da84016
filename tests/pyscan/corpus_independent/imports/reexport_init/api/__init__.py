from .transport import connect
from ._client import Client

__all__ = ["connect", "Client"]
