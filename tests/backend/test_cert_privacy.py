"""Privacy at rest: face templates and photos are sealed per person; key rotation re-seals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from backend.crypto import load_keyring
from backend.db import engine_for
from backend.models import FaceTemplate, Person, ReviewCase
from tests.backend.cert_helpers import (
    COMPANION,
    ENROL_A,
    ENROL_B,
    GREY_B,
    SAME_A,
    certify,
    challenge,
    device,
    elder,
    enrol_face,
    photo,
)
from tests.backend.conftest import Api, make_settings
from tests.backend.test_cli import nongbao
from tests.conftest import TODAY
from tests.live import server_env


def test_templates_and_photos_are_sealed_to_their_person(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    a, b = elder(api), elder(api, seq="021", name="王五")
    enrol_face(api, a, ENROL_A)
    ring = load_keyring(make_settings(db_url, tmp_path).effective_key_file, create=False)
    with Session(engine_for(db_url)) as s:
        rows = s.exec(select(FaceTemplate).where(FaceTemplate.person_id == a)).all()
    enrolled = {photo(ENROL_A), photo(COMPANION[ENROL_A])}  # two enrolment photos, two rows
    assert len(rows) == 2
    for row in rows:
        assert row.photo_enc is not None and b"JFIF" not in row.photo_enc
        assert all(p[:64] not in row.photo_enc for p in enrolled)
        assert ring.decrypt(row.photo_enc, a.encode()) in enrolled
        assert (
            len(ring.decrypt(row.template_enc, a.encode())) == 128 * 4 + 12
        )  # the engine's template format
        with pytest.raises(InvalidTag):  # copied onto another person, it does not open
            ring.decrypt(row.template_enc, b.encode())
    assert {ring.decrypt(r.photo_enc, a.encode()) for r in rows if r.photo_enc} == enrolled


def test_keys_rotate_reseals_everything_and_the_data_stays_usable(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    a, b = elder(api), elder(api, seq="021", name="李四")
    enrol_face(api, a, ENROL_A)
    enrol_face(api, b, ENROL_B)
    kiosk = device(api)
    assert (
        certify(api, kiosk, b, challenge(api, kiosk, b), photo(GREY_B)).json()["outcome"]
        == "referred"
    )  # a captured photo at rest

    r = nongbao(["keys", "rotate", "--json"], server_env(db_url, tmp_path))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["key_id"] == "k2" and out["resealed"] == {
        "person": 2,
        "face_template": 8,  # 2 people x 2 enrolment photos x (template, photo)
        "review_case": 1,
        "certification": 0,  # only a failed field check keeps its photo there
        "disbursement_item": 0,
        "heir": 0,
        "transfer_document": 0,
        "payee_account": 0,
        "award": 0,
        "payroll_line": 0,
        "four_eyes_request": 0,
    }
    ring = load_keyring(make_settings(db_url, tmp_path).effective_key_file, create=False)
    assert ring.current == "k2" and set(ring.data_keys) == {"k1", "k2"}
    with Session(engine_for(db_url)) as s:
        blobs: list[bytes | None] = [p.id_number_enc for p in s.exec(select(Person)).all()]
        blobs += [t.template_enc for t in s.exec(select(FaceTemplate)).all()] + [
            t.photo_enc for t in s.exec(select(FaceTemplate)).all()
        ]
        blobs += [c.captured_photo_enc for c in s.exec(select(ReviewCase)).all()]
    assert {ring.key_id_of(blob) for blob in blobs if blob} == {"k2"}

    from backend.app import create_app

    with TestClient(
        create_app(make_settings(db_url, tmp_path), today=lambda: TODAY)
    ) as client:  # a restarted server
        restarted = Api(client)
        assert (
            restarted.get(f"/api/v1/persons/{a}", "clerk").json()["id_number"].startswith("110105")
        )
        verify = restarted.post(
            f"/api/v1/persons/{a}/face/verify",
            "clerk",
            files={"image": ("a.jpg", photo(SAME_A), "image/jpeg")},
        )
        assert verify.json()["outcome"] == "passed"
