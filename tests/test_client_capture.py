"""client/capture.py: the exact text a device signs, its key file, and verification."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import numpy as np
import pytest

from client import capture
from client.capture import DeviceKey


def test_the_signed_text_is_exactly_the_one_api_md_fixes() -> None:
    image, f0, f1, evidence = b"img", b"frame0", b"frame1", '{"frames": []}'

    def h(b: bytes) -> str:
        return hashlib.sha256(b).hexdigest()

    expected = f"NBCAP1\nch-1\nn-1\n{h(image)}\n{h(f0)},{h(f1)}\n{h(evidence.encode())}"
    assert capture.capture_message("ch-1", "n-1", [image, b"ignored"], [f0, f1], evidence) == (
        expected.encode()
    )
    # no frames: an empty line, still six lines
    assert capture.capture_message("c", "n", [image], [], b"").split(b"\n")[4] == b""


def test_the_key_is_made_once_in_the_data_folder_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    first = DeviceKey.load_or_create(tmp_path / "kiosk")
    again = DeviceKey.load_or_create(tmp_path / "kiosk")
    path = tmp_path / "kiosk" / capture.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.public_b64 == again.public_b64 and len(first.public_raw) == 32
    assert first.key_id == hashlib.sha256(first.public_raw).hexdigest()
    assert DeviceKey.load_or_create(tmp_path / "other").public_b64 != first.public_b64


def test_verify_accepts_only_this_keys_signature_over_exactly_this_capture() -> None:
    key, other = DeviceKey.generate(), DeviceKey.generate()
    sig = key.sign("c", "n", [b"i"], [b"f"], "e")
    message = capture.capture_message("c", "n", [b"i"], [b"f"], "e")
    assert capture.verify(key.public_raw, sig, message)
    assert not capture.verify(other.public_raw, sig, message)
    assert not capture.verify(key.public_raw, sig, message + b" ")
    for bad in ("", "!!", base64.b64encode(b"x" * 63).decode()):
        assert not capture.verify(key.public_raw, bad, message)


@pytest.mark.parametrize(
    "raw",
    [bytes(32), bytes([1]) + bytes(31), bytes([1]) + bytes(30) + bytes([0x80]), b"\xff" * 31],
)
def test_malformed_and_small_order_public_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        capture.decode_public_key(base64.b64encode(raw).decode())


def test_frames_shrink_to_fit_either_orientation() -> None:
    landscape = np.zeros((720, 1280, 3), np.uint8)
    portrait = np.zeros((1280, 720, 3), np.uint8)
    assert capture.fit_within(landscape, (640, 480)).shape[:2] == (360, 640)
    assert capture.fit_within(portrait, (640, 480)).shape[:2] == (640, 360)
    small = np.zeros((240, 320, 3), np.uint8)
    assert capture.fit_within(small, (640, 480)) is small
