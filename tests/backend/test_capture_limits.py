"""Bad evidence and oversized captures get a 4xx with a stable code, never a 500, and change
nothing; the cost of one certification request is bounded (refused before any decode).

Through the real API on both databases, as a device that signs what it sends (so each
refusal below is about the content, not the signature).
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from PIL import Image

from backend.services import captures
from tests.backend.cert_helpers import (
    ENROL_A,
    SAME_A,
    DeviceHeaders,
    challenge,
    device,
    elder,
    enrol_face,
    live_capture,
    photo,
    sign,
    synthesized_evidence,
)
from tests.backend.conftest import Api


def jpeg(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (120, 110, 100)).save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def submit(
    api: Api,
    kiosk: DeviceHeaders,
    pid: str,
    ch: dict[str, Any],
    *,
    evidence: str,
    images: list[bytes] | None = None,
    frames: list[bytes] | None = None,
) -> Any:
    data = {
        "person_id": pid,
        "channel": "kiosk",
        "challenge_id": ch["challenge_id"],
        "nonce": ch["nonce"],
        "evidence": evidence,
    }
    files = [("images", (f"i{n}.jpg", b, "image/jpeg")) for n, b in enumerate(images or [])]
    files += [("frames", (f"f{n}.jpg", b, "image/jpeg")) for n, b in enumerate(frames or [])]
    return api.client.post(
        "/api/v1/certifications", headers=kiosk, data=sign(kiosk.key, data, files), files=files
    )


def code_of(r: Any) -> str | None:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return r.json().get("code")


BAD_EVIDENCE = {
    "nested arrays": "[" * 50_000 + "]" * 50_000,
    "nested in frames": '{"frames": [' + "[" * 3000 + "]" * 3000 + "]}",
    "1e400": '{"frames": [{"t": 1e400, "face": true}]}',
    "-1e400": '{"frames": [{"t": 1, "yaw": -1e400}]}',
    "NaN": '{"frames": [{"t": 1, "ear": NaN}]}',
    "Infinity": '{"frames": [{"t": 1, "mar": Infinity}]}',
    "a 5000-digit integer": '{"frames": [{"t": ' + "9" * 5000 + "}]}",
    "frames as strings": '{"frames": ["frame0", "frame1"]}',
    "a frame as a number": '{"frames": [1]}',
    "frames not a list": '{"frames": {"t": 1}}',
    "not an object": "[1, 2, 3]",
    "a string": '"evidence"',
    "not JSON": "{frames: [",
    "a huge array": json.dumps({"frames": [{"t": 1}], "pad": list(range(5000))}),
    "too many frames": json.dumps({"frames": [{"t": 1}] * 5000}),
    "a string for a number": '{"frames": [{"t": 1, "ear": "0.3"}]}',
    "a bool for a number": '{"frames": [{"t": true}]}',
    "face not a bool": '{"frames": [{"t": 1, "face": "yes"}]}',
    "sample out of range": '{"frames": [{"t": 1, "sample": 7}]}',
    "sample negative": '{"frames": [{"t": 1, "sample": -1}]}',
    "shape of strings": '{"frames": [{"t": 1, "shape": ["a", "b"]}]}',
    "over the size limit": json.dumps({"frames": [{"t": 1}], "pad": "x" * 300_000}),
}


def test_bad_evidence_is_a_422_bad_evidence_and_changes_nothing(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    image = photo(SAME_A)
    for name, evidence in BAD_EVIDENCE.items():
        r = submit(api, kiosk, pid, ch, evidence=evidence, images=[image], frames=[image])
        assert r.status_code == 422 and code_of(r) == "bad_evidence", (name, r.status_code, r.text)
    status = api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()
    assert status["status"] != "certified" and status["failures_today"] == 0
    # the challenge was not used up: the genuine capture passes
    frames, items = live_capture(ch, image)
    r = submit(
        api, kiosk, pid, ch, evidence=json.dumps({"frames": items}), images=[image], frames=frames
    )
    assert r.status_code == 201 and r.json()["outcome"] == "passed", r.text


def test_oversized_or_unreadable_pictures_are_refused_from_their_headers(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    ev = synthesized_evidence(ch)
    face = photo(SAME_A)
    cases: list[tuple[str, dict[str, list[bytes]], int, str]] = [
        ("best image over full HD", {"images": [jpeg(1921, 1080)]}, 413, "image_too_large"),
        ("best image portrait 1080x1921", {"images": [jpeg(1080, 1921)]}, 413, "image_too_large"),
        ("a frame over VGA", {"frames": [jpeg(641, 480)]}, 413, "image_too_large"),
        ("a bomb: 20000x20000", {"frames": [_png_header(20_000, 20_000)]}, 413, "image_too_large"),
        ("not a picture", {"frames": [b"GIF89a not really"]}, 422, "bad_image"),
        ("a truncated header", {"images": [face[:20]]}, 422, "bad_image"),
        ("too many images", {"images": [face] * (captures.MAX_IMAGES + 1)}, 422, "too_many_files"),
        ("too many frames", {"frames": [face] * (captures.MAX_FRAMES + 1)}, 422, "too_many_files"),
        (
            "a frame over its byte limit",
            {"frames": [face + b"\0" * captures.MAX_FRAME_BYTES]},
            413,
            "file_too_large",
        ),
    ]
    for name, parts, status, code in cases:
        r = submit(
            api,
            kiosk,
            pid,
            ch,
            evidence=ev,
            images=parts.get("images", [face]),
            frames=parts.get("frames", [face]),
        )
        assert r.status_code == status and code_of(r) == code, (name, r.status_code, r.text)
    frames, items = live_capture(ch, face)
    r = submit(
        api, kiosk, pid, ch, evidence=json.dumps({"frames": items}), images=[face], frames=frames
    )
    assert r.status_code == 201 and r.json()["outcome"] == "passed", r.text


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares a huge size: a few hundred bytes, 400 MP if it were decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_a_refused_oversized_request_costs_milliseconds_not_seconds(api: Api) -> None:
    """What the decision cannot need is refused before any decode: five full-size images and
    many large frames cost the server almost nothing. (CPU time, not wall time: the server
    runs in this process.)"""
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    big = jpeg(4000, 3000)
    started = time.process_time()
    r = submit(
        api,
        kiosk,
        pid,
        ch,
        evidence=synthesized_evidence(ch),
        images=[big] * 5,
        frames=[jpeg(1280, 720)] * 10,
    )
    spent = time.process_time() - started
    assert r.status_code == 413 and code_of(r) == "image_too_large"
    assert spent < 1.0, spent  # decoding these would take seconds; reading headers does not


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [
        ("/api/v1/persons", "clerk", "[" * 20_000 + "]" * 20_000),
        ("/api/v1/persons", "clerk", '{"name": ' + "[" * 20_000 + "]" * 20_000 + "}"),
        ("/api/v1/challenges", "kiosk", '{"person_id": 1e400}'),
        ("/api/v1/contributions", "clerk", '{"person_id": "p", "year": 1e400}'),
        (
            "/api/v1/villages",
            "admin",
            '{"code": "V9", "name": "x", "latitude": 1e400, "longitude": 1}',
        ),
        (
            "/api/v1/villages",
            "admin",
            '{"code": "V9", "name": "x", "latitude": NaN, "longitude": 1}',
        ),
        (
            "/api/v1/users",
            "admin",
            '{"username": "u", "password": "p", "role": ' + "{" * 5000 + "}" * 5000 + "}",
        ),
    ],
)
def test_json_routes_answer_4xx_to_nested_or_out_of_range_json(
    api: Api, path: str, role: str, body: str
) -> None:
    headers = device(api) if role == "kiosk" else api.auth(role)
    r = api.client.post(
        path, headers={**headers, "Content-Type": "application/json"}, content=body.encode()
    )
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
