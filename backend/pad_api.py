"""The API attack species of `nongbao faces pad-evaluate`: a still photo with made-up
per-frame measurements, sent through the real certification route of an in-process server
on a fresh, temporary SQLite database (the attack of issue 13).

Kept in the backend (biometrics/ never imports the backend): importing this module adds
the species to biometrics.cli's registry, and `nongbao faces` is this module's `faces`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backend.stand_in import second_view
from biometrics import cli as faces_cli
from biometrics.thresholds import GalleryThresholds

faces = faces_cli.faces
PASSWORD = "pad-evaluate-only"
ISSUER_REGION, BIRTH = "110105", "19500101"


def _id_number(n: int) -> str:
    from backend.idnumber import check_char

    first17 = f"{ISSUER_REGION}{BIRTH}{n:03d}"
    return first17 + check_char(first17)


def _made_up_evidence(ch: dict[str, object], landmarks: bool) -> str:
    """What a modified device claims: neutral frames, then each action's peak, every item
    pointing at the one uploaded photo (frame 0)."""
    from datetime import datetime

    peak = {"blink": {"ear": 0.1}, "turn_left": {"yaw": 25.0}, "turn_right": {"yaw": -25.0}}
    peak["open_mouth"] = {"mar": 0.5}
    t = datetime.fromisoformat(str(ch["issued_at"])).timestamp() + 0.2
    items: list[dict[str, object]] = []
    steps: list[dict[str, float]] = [{}] * 5
    for action in ch["actions"]:  # type: ignore[attr-defined]
        steps += [{}] * 3 + [peak[action]] * 2 + [{}] * 3
    for values in steps:
        item: dict[str, object] = {"t": round(t, 3), "face": True, "ear": 0.3, "mar": 0.05}
        item.update({"yaw": 0.0, "aspect": 0.6, "sample": 0})
        item.update(values)
        if landmarks:
            item["shape"] = [[0.01 * i, 0.005 * i] for i in range(68)]
        items.append(item)
        t += 0.15
    return json.dumps({"frames": items})


def still_photo_attempts(photos: Sequence[bytes], seed: int = 0) -> list[dict[str, object]]:
    """For each photo: a fresh person enrolled with it, then a certification with that same
    photo as best image and only frame, and made-up measurements (with landmarks on every
    other attempt). Returns each attempt's outcome, liveness reasons and receipt."""
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from backend.bench import fresh_database
    from backend.config import Settings
    from backend.crypto import load_keyring
    from backend.db import engine_for, session_scope
    from backend.models import AppUser, Village
    from backend.services.auth import hash_password, register_device

    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp, fresh_database("sqlite") as url:
        settings = Settings(
            database_url=url, data_dir=Path(tmp) / "data", key_file=Path(tmp) / "master.key"
        )
        load_keyring(settings.effective_key_file)
        with session_scope(engine_for(url)) as s:
            s.add(Village(code="V001", name="东村", township="城关镇"))
            s.add(AppUser(username="clerk", password_hash=hash_password(PASSWORD), role="clerk"))
            s.flush()
            _, token = register_device(s, "pad-kiosk", "kiosk", "pad-evaluate")
        kiosk = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(settings)) as client:
            r = client.post("/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD})
            clerk = {"Authorization": f"Bearer {r.json()['access_token']}"}
            for n, photo in enumerate(photos):
                results.append(_attempt(client, clerk, kiosk, photo, n + 1, landmarks=n % 2 == 0))
    return results


def _attempt(
    client: Any,
    clerk: dict[str, str],
    kiosk: dict[str, str],
    photo: bytes,
    n: int,
    *,
    landmarks: bool,
) -> dict[str, object]:
    person = client.post(
        "/api/v1/persons",
        headers=clerk,
        json={
            "id_number": _id_number(n),
            "name": f"测试{n}",
            "village_code": "V001",
            "enrolled_on": "2010-08-01",
        },
    )
    if person.status_code != 201:
        return {"error": f"person: {person.status_code}"}
    pid = person.json()["person_id"]
    enrolled = client.post(
        f"/api/v1/persons/{pid}/face",
        headers=clerk,
        # enrolment takes two photos: the second a stand-in view of the same picture (the
        # attacker's photo IS the enrolment photo: the worst case for a still-photo attack)
        files=[
            ("images", ("enrol.jpg", photo, "image/jpeg")),
            ("images", ("enrol-2.png", second_view(photo), "image/png")),
        ],
    )
    if enrolled.status_code != 201 or not enrolled.json().get("ok", True):
        return {"skipped": "the photo is not enrol quality"}
    ch = client.post("/api/v1/challenges", headers=kiosk, json={"person_id": pid}).json()
    r = client.post(
        "/api/v1/certifications",
        headers=kiosk,
        data={
            "person_id": pid,
            "channel": "kiosk",
            "challenge_id": ch["challenge_id"],
            "nonce": ch["nonce"],
            "evidence": _made_up_evidence(ch, landmarks),
        },
        files=[
            ("images", ("best.jpg", photo, "image/jpeg")),
            ("frames", ("f0.jpg", photo, "image/jpeg")),
        ],
    )
    if r.status_code != 201:
        return {"refused": r.status_code}
    body = r.json()
    return {
        "outcome": body["outcome"],
        "receipt": body.get("receipt") is not None,
        "liveness": (body.get("liveness") or {}).get("reasons", []),
    }


faces_cli.API_SPECIES["still_photo_api"] = still_photo_attempts


def record_calibration(result: dict[str, Any]) -> str:
    """`nongbao faces calibrate --record`: the figures become the county's calibration, shown
    to reviewers next to each face decision (backend/services/calibrations.py)."""
    from backend.cli import service_ctx
    from backend.services import calibrations

    with service_ctx("faces-calibrate") as ctx:
        return calibrations.record(ctx, result).id


faces_cli.RECORDERS["calibration"] = record_calibration


def policy_thresholds() -> GalleryThresholds:
    """`nongbao faces evaluate`: the county's policy's thresholds by gallery size."""
    from backend.config import get_settings
    from backend.policy import load_policy

    return load_policy(get_settings().policy_file).face.thresholds()


faces_cli.POLICY_THRESHOLDS["policy"] = policy_thresholds
