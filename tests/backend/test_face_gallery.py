"""A person's face is a gallery (issue 18), through the real API and database: enrolment
keeps each photo, a passed certification adds its best frame, a referral adds nothing, the
gallery stays bounded, and the review console shows the county's own figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from backend.crypto import load_keyring
from backend.db import engine_for
from backend.models import FaceCalibration, FaceTemplate
from backend.policy import load_policy
from backend.policy.model import DEFAULT_POLICY_FILE
from backend.services import faces
from backend.services.context import Actor, Ctx
from tests.backend.cert_helpers import (
    ENROL_B,
    GREY_B,
    SAME_A,
    certify,
    challenge,
    device,
    elder,
    enrol_face,
    enrol_files,
    photo,
)
from tests.backend.conftest import PASSWORD, Api, make_settings
from tests.conftest import SHARED

LFW = SHARED / "faces" / "lfw"

# three enrolment-quality photos of person A (Donald Rumsfeld, LFW)
GALLERY_A = ("Donald_Rumsfeld_0001", "Donald_Rumsfeld_0004", "Donald_Rumsfeld_0006")


def rows(db_url: str, person_id: str) -> list[FaceTemplate]:
    with Session(engine_for(db_url)) as s:
        return list(
            s.exec(
                select(FaceTemplate)
                .where(FaceTemplate.person_id == person_id)
                .order_by(col(FaceTemplate.created_at))
            ).all()
        )


def test_enrolment_keeps_each_photo_and_a_pass_adds_its_best_frame(api: Api, db_url: str) -> None:
    a = elder(api)
    r = api.post(
        f"/api/v1/persons/{a}/face",
        "clerk",
        files=[("images", (f"{n}.jpg", photo(n), "image/jpeg")) for n in GALLERY_A],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["gallery_size"] == 3 and body["accepted"] is True
    enrolled = rows(db_url, a)
    assert {(x.source, x.enrolment_id, x.active) for x in enrolled} == {
        ("enrolment", body["enrolment_id"], True)
    }
    assert len({x.quality for x in enrolled}) >= 1 and len(enrolled) == 3

    counter = api.post(
        f"/api/v1/persons/{a}/face/verify",
        "clerk",
        files=[("image", ("probe.jpg", photo(SAME_A), "image/jpeg"))],
    )
    # the counter's 1:1 check decides on the gallery too
    assert counter.status_code == 200 and counter.json()["gallery_size"] == 3, counter.text
    assert counter.json()["outcome"] == "passed"

    kiosk = device(api)
    passed = certify(api, kiosk, a, challenge(api, kiosk, a), photo(SAME_A)).json()
    assert passed["outcome"] == "passed", passed
    after = rows(db_url, a)
    added = [x for x in after if x.source == "certification"]
    assert len(after) == 4 and len(added) == 1 and added[0].active
    assert added[0].certification_id == passed["certification_id"]


def test_a_referral_adds_nothing_and_the_console_shows_the_countys_figures(
    api: Api, db_url: str
) -> None:
    b = elder(api, seq="021", name="李四")
    enrol_face(api, b, ENROL_B)
    kiosk = device(api)
    referred = certify(api, kiosk, b, challenge(api, kiosk, b), photo(GREY_B)).json()
    assert referred["outcome"] == "referred", referred
    # two enrolment photos, nothing from a referral
    assert [x.source for x in rows(db_url, b)] == ["enrolment", "enrolment"]

    case_id = api.get("/api/v1/review/cases", "reviewer").json()[0]["case_id"]
    detail = api.get(f"/api/v1/review/cases/{case_id}", "reviewer").json()
    assert detail["face_figures"] == {
        "gallery_size": 2,
        "pass_at": 0.5,
        "refer_at": 0.6,
        "measured": None,
    }
    client = api.client
    client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    page = client.get(f"/console/cases/{case_id}?lang=en").text
    assert 'id="face-not-calibrated"' in page and "≤0.50 passes, ≤0.60 is referred" in page

    with Session(engine_for(db_url)) as s:
        s.add(
            FaceCalibration(
                id="cal-test",
                gallery_size=2,
                pass_at=0.48,
                refer_at=0.58,
                fmr_at_pass=0.0004,
                fnmr_at_pass=0.061,
                fmr_at_refer=0.002,
                fnmr_at_refer=0.0123,
                images=812,
                identities=301,
            )
        )
        s.commit()
    page = client.get(f"/console/cases/{case_id}?lang=en").text
    assert 'id="face-measured"' in page and 'id="face-not-calibrated"' not in page
    for figure in ("301 people", "812 photos", "0.04%", "6.10%", "1.23%"):
        assert figure in page, figure


def policy_with(tmp_path: Path, **face: float) -> Path:
    """The default county policy with some `[face]` values replaced."""
    text = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    for key, value in face.items():
        text, n = re.subn(rf"(?m)^{key} = [0-9.]+", f"{key} = {value}", text)
        assert n == 1, key
    path = tmp_path / f"policy-{len(list(tmp_path.iterdir()))}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_galleries_of_three_or_more_have_their_own_pair_checked_at_load(tmp_path: Path) -> None:
    face = load_policy().face  # the default county's: 3+ templates refer below 0.57
    applied = {k: face.thresholds().for_size(k) for k in (1, 2, 3, 7)}
    assert {k: (t.pass_at, t.refer_at) for k, t in applied.items()} == {
        1: (0.50, 0.60),
        2: (0.50, 0.60),
        3: (0.50, 0.57),
        7: (0.50, 0.57),
    }
    own = load_policy(policy_with(tmp_path, gallery3_pass=0.48, gallery3_refer=0.56)).face
    assert (own.thresholds().three.pass_at, own.thresholds().three.refer_at) == (0.48, 0.56)
    for wrong in (
        {"gallery3_pass": 0.57, "gallery3_refer": 0.57},  # pass must be below refer
        {"gallery3_pass": 0.58, "gallery3_refer": 0.57},
    ):
        with pytest.raises(ValueError, match=r"gallery3_pass must be below face\.gallery3_refer"):
            load_policy(policy_with(tmp_path, **wrong))
    with pytest.raises(ValueError, match="gallery3_refer"):
        load_policy(policy_with(tmp_path, gallery3_refer=1.2))  # a distance in (0, 1)


def test_enrolment_refuses_a_single_photo_and_takes_two(api: Api, db_url: str) -> None:
    """Enrolment takes 2-5 photos (policy [face] enrol_min_photos, enrol_max_photos), enforced
    by the server: one photo, or two of which the gate refuses one, is refused with a code."""
    import io

    from PIL import Image

    a = elder(api, seq="041", name="赵六")
    one = api.post(f"/api/v1/persons/{a}/face", "clerk", files=enrol_files(GALLERY_A[0]))
    assert one.status_code == 422, one.text
    assert one.headers["content-type"].startswith("application/problem+json")
    assert one.json()["code"] == "too_few_photos" and "2 to 5 photos" in one.json()["detail"]

    blank = io.BytesIO()
    Image.new("RGB", (400, 400), (128, 128, 128)).save(blank, format="PNG")
    half = api.post(
        f"/api/v1/persons/{a}/face",
        "clerk",
        files=[*enrol_files(GALLERY_A[0]), ("images", ("wall.png", blank.getvalue(), "image/png"))],
    )
    assert half.status_code == 422 and half.json()["code"] == "too_few_usable_photos", half.text
    assert "photo 2" in half.json()["detail"]
    six = api.post(f"/api/v1/persons/{a}/face", "clerk", files=enrol_files(*[GALLERY_A[0]] * 6))
    assert six.status_code == 422 and six.json()["code"] == "too_many_files"
    assert rows(db_url, a) == []  # nothing stored by a refusal

    two = api.post(f"/api/v1/persons/{a}/face", "clerk", files=enrol_files(*GALLERY_A[:2]))
    assert two.status_code == 201 and two.json()["gallery_size"] == 2, two.text
    assert [x.source for x in rows(db_url, a)] == ["enrolment", "enrolment"]


def test_the_gallery_is_bounded_and_keeps_its_newest_enrolment_photo(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    a = elder(api, seq="031", name="王五")
    api.post(
        f"/api/v1/persons/{a}/face",
        "clerk",
        files=[("images", (f"{n}.jpg", photo(n), "image/jpeg")) for n in GALLERY_A[:2]],
    )
    settings = make_settings(db_url, tmp_path)
    policy = load_policy(settings.policy_file)
    small = policy.model_copy(update={"face": policy.face.model_copy(update={"gallery_max": 3})})
    keyring = load_keyring(settings.effective_key_file, create=False)
    with Session(engine_for(db_url)) as s:
        ctx = Ctx(s, small, keyring, Actor(kind="user", name="test", role="admin"))
        first = faces.gallery_of(ctx, a)
        template = faces.template_bytes(ctx, first[0])
        for year in range(3):
            faces.add_certification_frame(ctx, a, f"cer-{year}", template, b"jpeg", 0.5)
        s.commit()
    active = [x for x in rows(db_url, a) if x.active]
    assert len(active) == 3
    assert [x.certification_id for x in active if x.source == "certification"] == [
        "cer-1",
        "cer-2",
    ]
    assert [x.source for x in active].count("enrolment") == 1


def test_the_server_picks_the_sharpest_frontal_frames_as_probes() -> None:
    import cv2
    import numpy as np

    from backend.services import face_engine
    from tests.liveness_frames import genuine_capture

    frames, items = genuine_capture(photo(SAME_A), ["turn_left", "blink"], 1_000.0)
    # blur one frontal frame heavily: it must rank below the sharp ones
    first = cv2.imdecode(np.frombuffer(frames[0], np.uint8), cv2.IMREAD_COLOR)
    assert first is not None
    soft = cv2.imencode(".jpg", cv2.GaussianBlur(first, (0, 0), 5))[1].tobytes()
    frames = [soft, *frames[1:]]
    evidence = json.dumps({"frames": items})
    chosen = face_engine.frame_probes(evidence, frames, 3)
    assert len(chosen) == 3 and 0 not in chosen and len(set(chosen)) == 3
    assert face_engine.frame_probes(evidence, frames, 0) == []
    assert face_engine.frame_probes("{not json", frames, 3) == []  # judged (refused) elsewhere


def test_calibrate_record_stores_the_countys_figures(tmp_path: Path) -> None:
    """`nongbao faces calibrate --gallery 2 --record`, the real command on a fresh database."""
    import subprocess
    import sys

    from tests.live import ROOT, server_env

    db = f"sqlite:///{tmp_path / 'county.sqlite3'}"
    env = server_env(db, tmp_path)
    folder = tmp_path / "photos"
    for person in ("Colin_Powell", "George_W_Bush", "Ariel_Sharon"):
        (folder / person).mkdir(parents=True)
        for source in sorted((LFW / person).glob("*.jpg"))[:4]:
            (folder / person / source.name).symlink_to(source)

    def nongbao(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nongbao", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=300,
        )

    assert nongbao("db", "upgrade").returncode == 0
    r = nongbao("faces", "calibrate", str(folder), "--gallery", "2", "--record", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    with Session(engine_for(db)) as s:
        row = s.exec(select(FaceCalibration)).one()
    assert row.id == result["calibration_id"] and row.gallery_size == 2
    assert (row.pass_at, row.refer_at) == (
        result["proposed"]["pass_at"],
        result["proposed"]["refer_at"],
    )
    assert row.identities == 3 and row.fnmr_at_pass == result["fnmr_at_pass"]
