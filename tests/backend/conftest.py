"""An API client on a fresh database, with signed-in users of each role."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TODAY

PASSWORD = "correct horse battery"
SECOND_USERS = {"admin2": "admin", "clerk2": "clerk"}


def valid_id(region: str, birth: str, seq: str) -> str:
    """An ID number with the right check character (GB 11643)."""
    from backend.idnumber import check_char

    first17 = f"{region}{birth}{seq}"
    return first17 + check_char(first17)


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        if role not in self.tokens:  # sign in on first use: argon2 is slow on purpose
            r = self.client.post(
                "/api/v1/auth/token", data={"username": role, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            self.tokens[role] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def post(self, path: str, role: str | None = "admin", **kw: Any):
        headers = {**self.auth(role), **kw.pop("headers", {})} if role else kw.pop("headers", {})
        return self.client.post(path, headers=headers, **kw)

    def get(self, path: str, role: str | None = "admin", **kw: Any):
        return self.client.get(path, headers=self.auth(role) if role else {}, **kw)

    def put(self, path: str, role: str = "admin", **kw: Any):
        return self.client.put(path, headers=self.auth(role), **kw)

    def patch(self, path: str, role: str = "admin", **kw: Any):
        return self.client.patch(path, headers=self.auth(role), **kw)

    def end(
        self,
        person_id: str,
        json: dict[str, Any],
        kind: str = "death",
        reporter: str = "clerk",
        confirmer: str = "clerk2",
    ):
        """A death (or other pension) reported by one person and confirmed by a second (four
        eyes): the confirmation's response, with the settlement."""
        r = self.post(f"/api/v1/persons/{person_id}/{kind}", reporter, json=json)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending"
        return self.post(
            f"/api/v1/terminations/{r.json()['termination_id']}/confirm", confirmer, json={}
        )

    def approve_run(self, run_id: str, approver: str = "admin2") -> None:
        """A payroll run prepared by `admin`, released by a second admin (four eyes)."""
        r = self.post(f"/api/v1/payroll-runs/{run_id}/approve", approver)
        assert r.status_code == 200, r.text

    def confirm(self, request_id: str, confirmer: str = "clerk2"):
        return self.post(f"/api/v1/approvals/{request_id}/confirm", confirmer, json={})

    def enrol(
        self,
        id_number: str,
        name: str = "张三",
        village: str = "V001",
        enrolled_on: str = "2010-08-01",
        **extra: Any,
    ) -> str:
        r = self.post(
            "/api/v1/persons",
            "clerk",
            json={
                "id_number": id_number,
                "name": name,
                "village_code": village,
                "enrolled_on": enrolled_on,
                **extra,
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["person_id"]

    def pay(
        self,
        person_id: str,
        year: int,
        personal_fen: int,
        paid_on: str,
        kind: str = "normal",
        **extra: Any,
    ):
        return self.post(
            "/api/v1/contributions",
            "clerk",
            json={
                "person_id": person_id,
                "year": year,
                "personal_fen": personal_fen,
                "paid_on": paid_on,
                "kind": kind,
                **extra,
            },
        )


def make_settings(db_url: str, tmp_path: Path):
    from backend.config import Settings

    return Settings(
        database_url=db_url, data_dir=tmp_path / "data", key_file=tmp_path / "keys" / "master.key"
    )


@functools.cache
def _password_hash() -> str:
    from backend.services.auth import hash_password

    return hash_password(PASSWORD)


def bootstrap(db_url: str, tmp_path: Path) -> None:
    """What an operator does first: users of every role (from the CLI's service) and a village."""
    from backend.crypto import load_keyring
    from backend.db import engine_for, session_scope
    from backend.models import AppUser, Village

    settings = make_settings(db_url, tmp_path)
    load_keyring(settings.effective_key_file)
    with session_scope(engine_for(db_url)) as s:
        for code, name in (("V001", "东村"), ("V002", "西村")):
            s.add(Village(code=code, name=name, township="城关镇"))
        s.flush()
        for role in ("admin", "clerk", "reviewer", "auditor", "field_worker"):
            villages = ["V001"] if role == "field_worker" else []
            s.add(
                AppUser(
                    username=role,
                    password_hash=_password_hash(),
                    role=role,
                    villages=json.dumps(villages),
                )
            )
        # the second pair of eyes (internal control): a second admin and a second clerk
        for username, role in SECOND_USERS.items():
            s.add(AppUser(username=username, password_hash=_password_hash(), role=role))


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    from backend.app import create_app

    bootstrap(db_url, tmp_path)
    app = create_app(make_settings(db_url, tmp_path), today=lambda: TODAY)
    with TestClient(app) as client:
        yield Api(client)
