"""A challenge is usable once, even when two submissions race (real server, two workers)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx

from client.capture import DeviceKey
from tests.backend.cert_helpers import (
    COMPANION,
    ENROL_A,
    SAME_A,
    enrol_files,
    live_capture,
    photo,
    sign,
)
from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.live import live_server


def test_two_racing_submissions_of_one_challenge_certify_once(db_url: str, tmp_path: Path) -> None:
    bootstrap(db_url, tmp_path)
    # PostgreSQL: two server processes; SQLite (the embedded default, one process): the race is
    # between the threads of one worker, as a county running on SQLite would see it
    workers = 2 if db_url.startswith("postgresql") else 1
    with live_server(db_url, tmp_path, workers=workers) as base:

        def token(user: str) -> dict[str, str]:
            return {
                "Authorization": "Bearer "
                + httpx.post(
                    f"{base}/api/v1/auth/token", data={"username": user, "password": PASSWORD}
                ).json()["access_token"]
            }

        clerk, admin = token("clerk"), token("admin")
        pid = httpx.post(
            f"{base}/api/v1/persons",
            headers=clerk,
            json={
                "id_number": valid_id("110105", "19500101", "011"),
                "name": "张三",
                "village_code": "V001",
                "enrolled_on": "2010-08-01",
            },
        ).json()["person_id"]
        assert (
            httpx.post(
                f"{base}/api/v1/persons/{pid}/face",
                headers=clerk,
                files=enrol_files(ENROL_A, COMPANION[ENROL_A]),
                timeout=60,
            ).status_code
            == 201
        )
        key = DeviceKey.generate()  # made on the kiosk; only the public key is registered
        kiosk = {
            "Authorization": "Bearer "
            + httpx.post(
                f"{base}/api/v1/devices",
                headers=admin,
                json={"name": "k", "kind": "kiosk", "public_key": key.public_b64},
            ).json()["token"]
        }
        ch = httpx.post(f"{base}/api/v1/challenges", headers=kiosk, json={"person_id": pid}).json()
        frames, items = live_capture(ch, photo(SAME_A))
        data = {
            "person_id": pid,
            "channel": "kiosk",
            "challenge_id": ch["challenge_id"],
            "nonce": ch["nonce"],
            "evidence": json.dumps({"frames": items}),
        }
        files = [("images", ("c.jpg", photo(SAME_A), "image/jpeg"))]
        files += [("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]
        data = sign(key, data, files)
        barrier = threading.Barrier(2)
        codes: list[int] = []

        def submit() -> None:
            barrier.wait()
            codes.append(
                httpx.post(
                    f"{base}/api/v1/certifications",
                    headers=kiosk,
                    data=data,
                    files=files,
                    timeout=120,
                ).status_code
            )

        threads = [threading.Thread(target=submit) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [201, 409]
        status = httpx.get(f"{base}/api/v1/persons/{pid}/certification", headers=clerk).json()
        assert status["status"] == "certified"
