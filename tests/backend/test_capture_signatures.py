"""Signed captures, from the attacker's side, through the real API on both databases.

An attacker holds a valid device token (a kiosk's or a field worker's) and controls the
device's software. Without the device's own Ed25519 key, or with a capture the key did not
sign, the backend refuses: 401 `bad_capture_signature`, nothing recorded, the challenge
still unused. With the key, the other checks still hold (one use per nonce, revocation).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from client.capture import DeviceKey
from tests.backend.cert_helpers import (
    ENROL_A,
    SAME_A,
    SAME_A_2,
    certify,
    challenge,
    device,
    elder,
    enrol_face,
    field_phone,
    live_capture,
    photo,
    sign,
    synthesized_evidence,
)
from tests.backend.conftest import Api, make_settings
from tests.conftest import TODAY


def refused_signature(r: Any) -> bool:
    return (
        r.status_code == 401
        and r.headers["content-type"].startswith("application/problem+json")
        and r.json().get("code") == "bad_capture_signature"
    )


def form(ch: dict[str, Any], pid: str, image: bytes, frame: bytes) -> tuple[dict[str, str], list]:
    """The device's submission: `image` as the best image and a genuine sequence of the face
    in `frame` doing the challenge."""
    frames, items = live_capture(ch, frame)
    data = {
        "person_id": pid,
        "channel": "kiosk",
        "challenge_id": ch["challenge_id"],
        "nonce": ch["nonce"],
        "evidence": json.dumps({"frames": items}),
    }
    files = [("images", ("best.jpg", image, "image/jpeg"))]
    files += [("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]
    return data, files


def certifications_of(api: Api, pid: str) -> Any:
    return api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()


def test_unsigned_forged_and_foreign_signatures_are_refused_and_change_nothing(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk, other_kiosk = device(api), device(api, name="kiosk-2")
    ch = challenge(api, kiosk, pid)
    url = "/api/v1/certifications"
    data, files = form(ch, pid, photo(SAME_A), photo(SAME_A))

    # no signature at all
    assert refused_signature(api.client.post(url, headers=kiosk, data=data, files=files))
    # not base64 / the wrong length / 64 random bytes
    for bad in ("not-a-signature!", "AAAA", "A" * 86 + "=="):
        r = api.client.post(url, headers=kiosk, data={**data, "signature": bad}, files=files)
        assert refused_signature(r), (bad, r.text)
    # signed by another registered device's key (the attacker's own kiosk)
    r = api.client.post(url, headers=kiosk, data=sign(other_kiosk.key, data, files), files=files)
    assert refused_signature(r), r.text
    # a key the server never saw
    r = api.client.post(
        url, headers=kiosk, data=sign(DeviceKey.generate(), data, files), files=files
    )
    assert refused_signature(r), r.text
    # a genuine signature, then the frame swapped for another picture of the person
    signed = sign(kiosk.key, data, files)
    swapped = [files[0], ("frames", ("f0.jpg", photo(SAME_A_2), "image/jpeg")), *files[2:]]
    assert refused_signature(api.client.post(url, headers=kiosk, data=signed, files=swapped))
    # ... the best image swapped, a frame dropped, a frame added, the evidence edited
    other_best = [("images", ("best.jpg", photo(SAME_A_2), "image/jpeg")), *files[1:]]
    assert refused_signature(api.client.post(url, headers=kiosk, data=signed, files=other_best))
    two_frames = [*files, files[1]]
    signed_two = sign(kiosk.key, data, two_frames)
    assert refused_signature(api.client.post(url, headers=kiosk, data=signed_two, files=files))
    assert refused_signature(
        api.client.post(url, headers=kiosk, data=signed, files=[*files, files[1]])
    )
    edited = {**signed, "evidence": synthesized_evidence(ch, static=True)}
    assert refused_signature(api.client.post(url, headers=kiosk, data=edited, files=files))
    # the signature of this capture, for another challenge of the same person
    ch2 = challenge(api, kiosk, pid)
    moved = {**signed, "challenge_id": ch2["challenge_id"], "nonce": ch2["nonce"]}
    assert refused_signature(api.client.post(url, headers=kiosk, data=moved, files=files))

    # nothing was recorded and the challenge is unused: the genuine capture passes
    assert certifications_of(api, pid)["status"] != "certified"
    r = api.client.post(url, headers=kiosk, data=signed, files=files)
    assert r.status_code == 201 and r.json()["outcome"] == "passed", r.text


def test_a_validly_signed_capture_replayed_is_refused_by_its_used_nonce(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    data, files = form(ch, pid, photo(SAME_A), photo(SAME_A))
    signed = sign(kiosk.key, data, files)
    first = api.client.post("/api/v1/certifications", headers=kiosk, data=signed, files=files)
    assert first.status_code == 201, first.text
    again = api.client.post("/api/v1/certifications", headers=kiosk, data=signed, files=files)
    assert again.status_code == 409 and "already used" in again.json()["detail"]
    # the same signed capture from another kiosk: the challenge is bound to the first
    thief = device(api, name="kiosk-thief")
    r = api.client.post("/api/v1/certifications", headers=thief, data=signed, files=files)
    assert refused_signature(r)  # not signed by the thief's key...
    r = api.client.post(
        "/api/v1/certifications", headers=thief, data=sign(thief.key, data, files), files=files
    )
    assert r.status_code == 403  # ...and re-signed, the challenge is still another device's


def test_a_revoked_device_is_refused_with_its_token_and_with_its_key(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    revoked = api.post(f"/api/v1/devices/{kiosk.device_id}/revoke", "admin")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    r = certify(api, kiosk, pid, ch, photo(SAME_A))
    assert r.status_code == 401  # the token itself is dead
    assert (
        api.client.post("/api/v1/challenges", headers=kiosk, json={"person_id": pid}).status_code
        == 401
    )

    # a field worker using a revoked phone's key (a phone reported stolen)
    worker = api.auth("field_worker")
    phone = device(api, kind="field", name="phone-stolen")
    wch = challenge(api, worker, pid)
    assert api.post(f"/api/v1/devices/{phone.device_id}/revoke", "admin").status_code == 200
    r = certify(api, worker, pid, wch, photo(SAME_A), channel="field", key=phone.key)
    assert refused_signature(r), r.text
    assert certifications_of(api, pid)["status"] != "certified"


def test_a_field_worker_must_sign_with_a_registered_field_phone(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    worker = api.auth("field_worker")
    kiosk = device(api)
    phone = field_phone(api)
    ch = challenge(api, worker, pid)
    # unsigned, or signed by a kiosk's key, or by an unregistered key
    assert refused_signature(certify(api, worker, pid, ch, photo(SAME_A), channel="field"))
    for key in (kiosk.key, DeviceKey.generate()):
        r = certify(api, worker, pid, ch, photo(SAME_A), channel="field", key=key)
        assert refused_signature(r), r.text
    # the phone's key_id with another key's signature
    data, files = form(ch, pid, photo(SAME_A), photo(SAME_A))
    data["channel"] = "field"
    forged = {**sign(DeviceKey.generate(), data, files), "key_id": phone.key_id}
    r = api.client.post("/api/v1/certifications", headers=worker, data=forged, files=files)
    assert refused_signature(r), r.text
    # the phone's own signature passes
    r = certify(api, worker, pid, ch, photo(SAME_A), channel="field", key=phone)
    assert r.status_code == 201 and r.json()["outcome"] == "passed", r.text


def test_keys_are_registered_and_rotated_by_an_admin_only(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    old_key, new_key = kiosk.key, DeviceKey.generate()
    path = f"/api/v1/devices/{kiosk.device_id}/public-key"
    # a device cannot replace its own key (the attacker's software would do just that)
    r = api.client.put(path, headers=kiosk, json={"public_key": new_key.public_b64})
    assert r.status_code == 403
    assert (
        api.client.put(
            path, headers=api.auth("clerk"), json={"public_key": new_key.public_b64}
        ).status_code
        == 403
    )
    # malformed keys; a key already registered with another device
    identity = base64.b64encode(bytes([1]) + bytes(31)).decode()  # verifies forged signatures
    for bad in ("", "AAAA", "A" * 43 + "=", identity):
        r = api.client.put(path, headers=api.auth("admin"), json={"public_key": bad})
        assert r.status_code == 422, (bad, r.text)
    other = device(api, name="kiosk-2")
    assert other.key is not None
    r = api.client.put(path, headers=api.auth("admin"), json={"public_key": other.key.public_b64})
    assert r.status_code == 409
    r = api.client.put(path, headers=api.auth("admin"), json={"public_key": new_key.public_b64})
    assert r.status_code == 200 and r.json()["key_id"] == new_key.key_id, r.text

    # the old key's signatures are refused from now on; the new key's pass
    ch = challenge(api, kiosk, pid)
    assert refused_signature(certify(api, kiosk, pid, ch, photo(SAME_A), key=old_key))
    r = certify(api, kiosk, pid, ch, photo(SAME_A), key=new_key)
    assert r.status_code == 201 and r.json()["outcome"] == "passed", r.text
    # a revoked device's key cannot be rotated back to life
    assert api.post(f"/api/v1/devices/{kiosk.device_id}/revoke", "admin").status_code == 200
    again = DeviceKey.generate()
    r = api.client.put(path, headers=api.auth("admin"), json={"public_key": again.public_b64})
    assert r.status_code == 422


def test_a_device_registered_without_a_key_is_refused_unless_the_policy_allows_it(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    old_kiosk = device(api, name="kiosk-old", keyed=False)
    ch = challenge(api, old_kiosk, pid)
    r = certify(api, old_kiosk, pid, ch, photo(SAME_A))
    assert refused_signature(r) and "no registered key" in r.json()["detail"]

    # a county migrating its old kiosks turns the requirement off for a while
    policy = tmp_path / "policy.toml"
    default = Path(__file__).resolve().parents[2] / "backend" / "policy" / "default_county.toml"
    policy.write_text(
        default.read_text("utf-8").replace(
            "require_signed_captures = true", "require_signed_captures = false"
        ),
        "utf-8",
    )
    from backend.app import create_app

    settings = make_settings(db_url, tmp_path).model_copy(update={"policy_file": policy})
    with TestClient(create_app(settings, today=lambda: TODAY)) as client:
        lenient = Api(client)
        r = certify(lenient, old_kiosk, pid, ch, photo(SAME_A))
        assert r.status_code == 201 and r.json()["outcome"] == "passed", r.text
        # a device that HAS a key must still sign, whatever the policy
        keyed = device(lenient, name="kiosk-new")
        ch2 = challenge(lenient, keyed, pid)
        data, files = form(ch2, pid, photo(SAME_A), photo(SAME_A))
        r = client.post("/api/v1/certifications", headers=keyed, data=data, files=files)
        assert refused_signature(r)


def test_bearer_in_other_letter_case_is_still_the_same_device(api: Api) -> None:
    """`bearer`/`BEARER` name the same token: the same device, its key still required."""
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    token = kiosk["Authorization"].removeprefix("Bearer ")
    data, files = form(ch, pid, photo(SAME_A), photo(SAME_A))
    for scheme in ("bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {token}"}
        r = api.client.post("/api/v1/certifications", headers=headers, data=data, files=files)
        assert refused_signature(r), (scheme, r.status_code, r.text)


def test_bearer_in_other_letter_case_shares_the_tokens_rate_limit(api: Api) -> None:
    kiosk = device(api)
    token = kiosk["Authorization"].removeprefix("Bearer ")
    data = {"channel": "kiosk", "challenge_id": "x", "nonce": "x", "person_id": "x"}
    files = [("images", ("a.jpg", b"x", "image/jpeg"))]

    def send(scheme: str) -> int:
        headers = {"Authorization": f"{scheme} {token}"}
        return api.client.post(
            "/api/v1/certifications", headers=headers, data=data, files=files
        ).status_code

    codes = [send("Bearer") for _ in range(30)]
    assert 429 not in codes
    assert send("bearer") == 429 and send("BEARER") == 429
