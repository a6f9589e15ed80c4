"""What the apps share with no server code: the typed HTTP client, its models and errors,
the product clock (client.clock), signed captures (client.capture) and masking.

Importable without the server's dependencies (no backend/, fastapi, sqlalchemy); a test
enforces it. The backend itself may import client's pure helpers (capture, masking), never
the other way round.
"""

from client.errors import (
    ApiError,
    ClientProblem,
    InvalidAnswer,
    NongbaoError,
    ServerProblem,
    TransportError,
)
from client.http import NongbaoClient
from client.masking import mask_id, mask_name

__all__ = [
    "ApiError",
    "ClientProblem",
    "InvalidAnswer",
    "NongbaoClient",
    "NongbaoError",
    "ServerProblem",
    "TransportError",
    "mask_id",
    "mask_name",
]
