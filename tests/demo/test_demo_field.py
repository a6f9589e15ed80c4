"""The demo field worker's list: everyone on it has a face, and the demo face (the one the
simulated camera plays) matches them on the phone, so a demo home visit can pass."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from PIL import Image
from sqlmodel import select

from tests.conftest import TODAY


def test_demo_field_list_people_have_the_demo_face(pg_url: str, tmp_path: Path) -> None:
    from backend.config import get_settings
    from backend.crypto import load_keyring
    from backend.db import engine_for, session_scope
    from backend.demo import FIELD_VILLAGES, PASSWORDS, build_demo
    from backend.models import AppUser
    from backend.policy import load_policy
    from backend.services import field
    from backend.services.context import Actor, Ctx
    from field_app.devices import BiometricsMatcher
    from field_app.flow import PASS_AT

    data_dir = tmp_path / "d"
    info = build_demo(residents=600, seed=7, data_dir=data_dir, database_url=pg_url, today=TODAY)
    assert info.face_enrolled, info.face_note
    assert "field work list" in info.face_note
    settings = get_settings()
    keyring = load_keyring(settings.key_file or data_dir / "keys" / "master.key", None)
    engine = engine_for(pg_url)
    with session_scope(engine) as s:
        user = s.exec(select(AppUser).where(AppUser.username == "field_worker")).one()
        villages = tuple(json.loads(user.villages))
        assert "field_worker" in PASSWORDS and len(villages) == FIELD_VILLAGES
        actor = Actor("user", "field_worker", "field_worker", villages)
        ctx = Ctx(s, load_policy(settings.policy_file), keyring, actor, today=TODAY)
        persons = field.worklist(ctx).persons
    assert len(persons) >= 5
    assert all(p.face_template for p in persons), [p.name for p in persons]
    face = np.asarray(Image.open(data_dir / "demo-face.png").convert("RGB"))
    distance = BiometricsMatcher().distance(str(persons[0].face_template), face)
    assert distance is not None and distance <= PASS_AT
    assert base64.b64decode(str(persons[-1].face_template))
