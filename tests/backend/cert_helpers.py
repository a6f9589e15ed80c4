"""Helpers for the certification tests: real face photos, devices, and liveness evidence.

The server measures liveness on the frames, so `certify` sends a SYNTHESIZED sequence of
the photo's face doing the challenge's actions (tests/liveness_frames.py: the face mesh
re-rendered in 3-D), timestamped from the challenge, with the photo itself as the best
image. `synthesized_evidence` is the OLD kind of evidence (made-up per-frame numbers
pointing at one photo): what an attacker sends, refused as `static_image`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from client.capture import DeviceKey
from tests.backend.conftest import Api, valid_id
from tests.conftest import SHARED
from tests.liveness_frames import genuine_capture

LFW = SHARED / "faces" / "lfw"

# distances measured with this engine (templates are deterministic):
ENROL_A = "Donald_Rumsfeld_0001"  # enrol-quality
SAME_A = "Donald_Rumsfeld_0003"  # 0.42 from ENROL_A: passes (<= 0.50)
SAME_A_2 = "Donald_Rumsfeld_0002"  # 0.47 from ENROL_A: also the same person
OTHER = "Colin_Powell_0002"  # 0.84 from ENROL_A: fails (> 0.60)
# person B is deepface's df_id02: with MediaPipe's quality gate no LFW pair of verify-quality
# photos falls in the grey zone
ENROL_B = "img53"  # enrol-quality
GREY_B = "img12"  # 0.55 from ENROL_B: the grey zone (0.50 < d <= 0.60)
# GREY_B's liveness frames drift past 0.60 when turned: its sequence is rendered from another
# frontal photo of the same person, as if the best image were the sharpest of the frames
LIVE_FROM = {GREY_B: "img55"}
DEEPFACE = SHARED / "faces" / "deepface" / "tests" / "unit" / "dataset"
# enrolment takes at least two photos (policy [face] enrol_min_photos): each enrolment photo's
# companion, another enrol-quality photo of the same person that no test uses as a probe.
# Against the gallery mean (pass 0.50, refer 0.60): SAME_A 0.32 passes, OTHER 0.78 fails,
# GREY_B 0.52 is referred
COMPANION = {
    ENROL_A: "Donald_Rumsfeld_0004",
    SAME_A_2: "Donald_Rumsfeld_0006",
    ENROL_B: "img56",
    # the kiosk e2e test's other enrolments (its camera photos are 0.23-0.38 from the means)
    "George_W_Bush_0002": "George_W_Bush_0007",
    "Ariel_Sharon_0001": "Ariel_Sharon_0002",
    "Colin_Powell_0002": "Colin_Powell_0004",
}


def photo(name: str) -> bytes:
    if name.startswith("img"):
        return (DEEPFACE / f"{name}.jpg").read_bytes()
    return (LFW / name.rsplit("_", 1)[0] / f"{name}.jpg").read_bytes()


def elder(
    api: Api, seq: str = "011", name: str = "张三", village: str = "V001", birth: str = "19500101"
) -> str:
    return api.enrol(valid_id("110105", birth, seq), name=name, village=village)


def enrol_files(*names: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (f"{n}.jpg", photo(n), "image/jpeg")) for n in names]


def enrol_face(api: Api, person_id: str, name: str) -> dict[str, Any]:
    """Enrol `name` with its companion photo (two photos: the policy's minimum)."""
    r = api.post(
        f"/api/v1/persons/{person_id}/face", "clerk", files=enrol_files(name, COMPANION[name])
    )
    assert r.status_code == 201, r.text
    return r.json()


class DeviceHeaders(dict[str, str]):
    """A device's request headers, and the capture key the device made (never sent)."""

    key: DeviceKey | None = None
    device_id: str = ""


def device(
    api: Api, kind: str = "kiosk", name: str = "kiosk-1", *, keyed: bool = True
) -> DeviceHeaders:
    """Register a device as an admin does; its key pair is made "on the device" (here) and
    only the public key is registered. keyed=False: an old device without a key."""
    key = DeviceKey.generate() if keyed else None
    body = {"name": name, "kind": kind, "location": "城关镇便民服务中心"}
    if key is not None:
        body["public_key"] = key.public_b64
    r = api.post("/api/v1/devices", "admin", json=body)
    assert r.status_code == 201, r.text
    headers = DeviceHeaders({"Authorization": f"Bearer {r.json()['token']}"})
    headers.key, headers.device_id = key, r.json()["device_id"]
    return headers


def field_phone(api: Api, name: str = "phone-1") -> DeviceKey:
    """A field worker's phone: its key registered as a field device (a field worker signs
    in as a user and names the phone's key with `key_id`)."""
    return device(api, kind="field", name=name).key or DeviceKey.generate()


def sign(
    key: DeviceKey | None,
    data: dict[str, str],
    files: list[tuple[str, tuple[str, bytes, str]]],
) -> dict[str, str]:
    """The form fields with the device's signature over exactly these parts."""
    if key is None:
        return data
    images = [f[1][1] for f in files if f[0] == "images"]
    frames = [f[1][1] for f in files if f[0] == "frames"]
    signature = key.sign(data["challenge_id"], data["nonce"], images, frames, data["evidence"])
    return {**data, "signature": signature, "key_id": key.key_id}


def challenge(api: Api, headers: dict[str, str], person_id: str) -> dict[str, Any]:
    r = api.client.post("/api/v1/challenges", headers=headers, json={"person_id": person_id})
    assert r.status_code == 201, r.text
    return r.json()


_ACTION_FRAME = {
    "blink": {"ear": 0.12},
    "turn_left": {"yaw": 22.0},
    "turn_right": {"yaw": -22.0},
    "open_mouth": {"mar": 0.40},
}


def synthesized_evidence(ch: dict[str, Any], *, static: bool = False) -> str:
    """Per-frame measurements that perform the challenge's actions (or, with static=True,
    a photo held still: no action is ever seen). Neutral frames point at sampled frame 0:
    the attacker's submission of one still photo with made-up measurements."""
    t = datetime.fromisoformat(ch["issued_at"]).timestamp() + 0.05
    neutral = {"face": True, "ear": 0.30, "mar": 0.10, "yaw": 0.0, "aspect": 1.0}
    frames: list[dict[str, Any]] = []

    def add(**values: float) -> None:
        nonlocal t
        frames.append(
            {"t": round(t, 3), **neutral, **values}
            if values
            else {"t": round(t, 3), **neutral, "sample": 0}
        )
        t += 0.05

    for _ in range(3):
        add()
    for action in [] if static else ch["actions"]:
        add(**_ACTION_FRAME[action])
        add()
        add()
    return json.dumps({"frames": frames})


def certify(
    api: Api,
    headers: dict[str, str],
    person_id: str,
    ch: dict[str, Any],
    image: bytes,
    *,
    evidence: str | None = None,
    extra: dict[str, str] | None = None,
    channel: str = "kiosk",
    req_headers: dict[str, str] | None = None,
    key: DeviceKey | None = None,
    live_from: bytes | None = None,
):
    """Submit `image` as the best image with a genuine sequence (rendered from `live_from`,
    default the image itself) for the challenge; or, with `evidence`, that evidence and the
    image as the only frame (the attacker's way). Signed with `key`, else the device's own."""
    if evidence is None:
        stand_in = {photo(k): photo(v) for k, v in LIVE_FROM.items()}.get(image)
        frames, items = live_capture(ch, live_from or stand_in or image)
        evidence = json.dumps({"frames": items})
    else:
        frames = [image]
    data = {
        "person_id": person_id,
        "channel": channel,
        "challenge_id": ch["challenge_id"],
        "nonce": ch["nonce"],
        "evidence": evidence,
        **(extra or {}),
    }
    files = [("images", ("best.jpg", image, "image/jpeg"))]
    files += [("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]
    data = sign(key or getattr(headers, "key", None), data, files)
    return api.client.post(
        "/api/v1/certifications", headers={**headers, **(req_headers or {})}, data=data, files=files
    )


def live_capture(ch: dict[str, Any], image: bytes) -> tuple[list[bytes], list[dict[str, float]]]:
    """JPEG frames and evidence items of `image`'s face doing the challenge, starting 0.3 s
    after it was issued."""
    start = datetime.fromisoformat(ch["issued_at"]).timestamp() + 0.05
    return genuine_capture(image, ch["actions"], start)


def live_evidence(
    ch: dict[str, Any], image: bytes
) -> tuple[str, list[tuple[str, tuple[str, bytes, str]]]]:
    """(evidence JSON, `frames` multipart parts) of a genuine sequence for a raw request."""
    frames, items = live_capture(ch, image)
    parts = [("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]
    return json.dumps({"frames": items}), parts
