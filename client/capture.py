"""Signed captures: the device's own Ed25519 key and the text it signs.

Shared by the kiosk, the field app and the backend (which verifies), with no server code.
The key pair is made ON the device, the first time it is needed, and the private key is
kept in the device's data directory, readable by its owner only (0600); it never leaves
the device. The public key (base64 of its raw 32 bytes) is what an admin registers with
the device (`POST /api/v1/devices {public_key}`).

What is signed (/work/shared/API.md, "Signed captures"), UTF-8:

    NBCAP1\\n{challenge_id}\\n{nonce}\\n{h(images[0])}\\n{h(frames[0])},{h(frames[1])},...\\n{h(evidence)}

h = lowercase hex SHA-256 of the part's bytes exactly as sent. The signature covers the
first best image, every frame in order, and the evidence text: change one byte of any of
them, drop or reorder a frame, or reuse it for another challenge, and it no longer verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

# The largest pictures the backend takes, (long side, short side) in either orientation: a
# best face image up to full HD, a liveness frame up to VGA. The apps shrink to fit before
# they encode and sign; the backend refuses larger ones from the header, before decoding.
MAX_IMAGE_SIDES = (1920, 1080)
MAX_FRAME_SIDES = (640, 480)
MESSAGE_TAG = "NBCAP1"
KEY_FILE = "device_capture_key.pem"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bytes(part: bytes | str) -> bytes:
    return part.encode("utf-8") if isinstance(part, str) else part


def capture_message(
    challenge_id: str,
    nonce: str,
    images: Sequence[bytes],
    frames: Sequence[bytes],
    evidence: bytes | str,
) -> bytes:
    """The exact bytes a device signs for one submission (an empty hash field when no
    image was sent: the server refuses that submission anyway)."""
    first = _h(images[0]) if images else ""
    lines = [
        MESSAGE_TAG,
        challenge_id,
        nonce,
        first,
        ",".join(_h(f) for f in frames),
        _h(_bytes(evidence)),
    ]
    return "\n".join(lines).encode("utf-8")


def fit_within(image: np.ndarray, sides: tuple[int, int]) -> np.ndarray:
    """The RGB frame shrunk (aspect kept) so that it fits `sides`; unchanged if it does."""
    from PIL import Image

    height, width = image.shape[:2]
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, sides[0] / long_side, sides[1] / short_side)
    if scale >= 1.0:
        return image
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def key_id(public_raw: bytes) -> str:
    """The name of a public key: lowercase hex SHA-256 of its raw 32 bytes."""
    return _h(public_raw)


# Points of small order (and their non-canonical twins), sign bit cleared, as libsodium lists
# them: a "public key" among them verifies forged signatures (the identity point verifies
# R = identity, S = 0 for every message), so software that reports one is refused.
_SMALL_ORDER = {
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
}


def decode_public_key(public_b64: str) -> bytes:
    """Raw 32 bytes from base64; ValueError when it is not a usable Ed25519 public key."""
    try:
        raw = base64.b64decode(public_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the public key is not base64") from exc
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes, not {len(raw)}")
    if raw[:31] + bytes([raw[31] & 0x7F]) in _SMALL_ORDER:
        raise ValueError("a weak Ed25519 public key (a point of small order)")
    Ed25519PublicKey.from_public_bytes(raw)  # raises ValueError on a malformed point
    return raw


def verify(public_raw: bytes, signature_b64: str, message: bytes) -> bool:
    """True only for a well-formed signature by this key over exactly this message."""
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class DeviceKey:
    """The device's capture-signing key, kept in its data directory."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, data_dir: Path) -> DeviceKey:
        """The key in `data_dir`, made there (0600) the first time. Another process that
        makes it at the same moment loses the race and reads the winner's key."""
        path = Path(data_dir) / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = cls.generate()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(key.private_pem())
                return key
        return cls.from_pem(path.read_bytes())

    @classmethod
    def from_pem(cls, pem: bytes) -> DeviceKey:
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return cls(loaded)

    def private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_raw(self) -> bytes:
        return self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_b64(self) -> str:
        """What an admin registers: `POST /api/v1/devices {public_key}`."""
        return base64.b64encode(self.public_raw).decode()

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def sign(
        self,
        challenge_id: str,
        nonce: str,
        images: Sequence[bytes],
        frames: Sequence[bytes],
        evidence: bytes | str,
    ) -> str:
        """Base64 signature over the capture, for the `signature` form field."""
        message = capture_message(challenge_id, nonce, images, frames, evidence)
        return base64.b64encode(self._private.sign(message)).decode()
