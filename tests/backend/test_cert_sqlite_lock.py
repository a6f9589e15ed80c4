"""On SQLite every transaction holds the database's write lock (BEGIN IMMEDIATE, backend/db.py):
a certification's face work (templates, liveness) must run outside its transactions, or every
other kiosk's certification waits for it (README: p95 4.7 s and the slowest 12 to 22 s with
two kiosks at once). Checked from outside: during each piece of face work, another
connection tries to take the write lock without waiting."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.services import face_engine
from biometrics import liveness
from tests.backend.cert_helpers import (
    ENROL_A,
    SAME_A,
    certify,
    challenge,
    device,
    elder,
    enrol_face,
    photo,
)
from tests.backend.conftest import Api, bootstrap, make_settings
from tests.conftest import TODAY


def _lock_is_free(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # "database is locked": a transaction holds it
        return False
    finally:
        other.close()


def _watched(fn: Callable[..., Any], path: Path, seen: list[bool]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        seen.append(_lock_is_free(path))
        return fn(*args, **kwargs)

    return run


def test_no_face_work_runs_while_the_certification_holds_the_write_lock(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.app import create_app

    path = Path(sqlite_url.removeprefix("sqlite:///"))
    bootstrap(sqlite_url, tmp_path)
    app = create_app(make_settings(sqlite_url, tmp_path), today=lambda: TODAY)
    with TestClient(app) as client:
        api = Api(client)
        person_id = elder(api)
        enrol_face(api, person_id, ENROL_A)
        kiosk = device(api)
        ch = challenge(api, kiosk, person_id)
        seen: list[bool] = []
        # the two uncached computations: a template, and the liveness measurement of frames
        monkeypatch.setattr(face_engine, "_probe", _watched(face_engine._probe, path, seen))
        monkeypatch.setattr(
            liveness, "analyse_frames", _watched(liveness.analyse_frames, path, seen)
        )
        face_engine._cache.clear()
        face_engine._analyses.clear()
        r = certify(api, kiosk, person_id, ch, photo(SAME_A))
        assert r.status_code == 201, r.text
        assert r.json()["outcome"] == "passed"
    assert len(seen) >= 2  # the best image's template and the frames' liveness were computed
    assert all(seen), f"face work under the write lock: {seen}"
