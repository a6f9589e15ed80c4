"""client/ and the apps' HTTP clients import without the server's dependencies.

Run in a fresh interpreter where importing backend, fastapi, sqlalchemy, sqlmodel or starlette
fails, as on a phone or a kiosk that has none of them installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("backend", "fastapi", "sqlalchemy", "sqlmodel", "starlette", "alembic", "psycopg")
PROGRAM = f"""
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError("blocked on a device: " + name)
        return None

sys.meta_path.insert(0, Block())
import client, client.http, client.models, client.errors, client.masking, client.clock
import client.capture
import kiosk_app.backend, field_app.client
assert client.NongbaoClient and field_app.client.FieldClient
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({BLOCKED!r}))
print("loaded:", loaded)
"""


def run(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_client_imports_with_the_server_packages_blocked() -> None:
    done = run(PROGRAM)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "loaded: []"


def test_the_block_does_bite() -> None:
    """The same harness refuses the backend: the test above could fail."""
    done = run(PROGRAM.replace("import client.capture", "import backend.idnumber"))
    assert done.returncode != 0 and "blocked on a device: backend" in done.stderr


def test_the_public_surface_is_declared() -> None:
    import client

    assert set(client.__all__) >= {"NongbaoClient", "NongbaoError", "TransportError", "ApiError"}
    assert all(hasattr(client, name) for name in client.__all__)
    assert issubclass(client.ApiError, client.NongbaoError)
    assert issubclass(client.TransportError, client.NongbaoError)
