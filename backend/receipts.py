"""Signed receipts: a short text for a QR code that anyone can check offline.

Format: ``NB1.<payload>.<signature>``, both base64url without padding. The payload is compact
JSON ``{"r": receipt id, "w": what, "d": YYYY-MM-DD, "p": masked name, "h": person hash
prefix}``; the signature is Ed25519 over the ASCII bytes ``NB1.<payload>`` (so the version
is signed too). Ed25519 signatures are 64 bytes: the whole code stays around 200
characters, a QR code of version 8-10 that a phone reads from paper.

The county's signing key lives beside the master key (``receipt_signing.key``, PKCS#8 PEM);
only the public key is needed to verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from backend.files import create_once, write_atomically

PREFIX = "NB1"
SIGNING_KEY_FILE = "receipt_signing.key"
PUBLIC_KEY_FILE = "receipt_signing.pub"
MAX_CODE_LENGTH = 1000


@dataclass(frozen=True)
class Payload:
    receipt_id: str
    what: str
    on: str
    person: str
    person_hash: str

    def compact(self) -> dict[str, str]:
        return {
            "r": self.receipt_id,
            "w": self.what,
            "d": self.on,
            "p": self.person,
            "h": self.person_hash,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: Ed25519PrivateKey, payload: Payload) -> str:
    body = _b64(
        json.dumps(
            payload.compact(), ensure_ascii=False, separators=(",", ":"), sort_keys=True
        ).encode()
    )
    signed = f"{PREFIX}.{body}"
    return f"{signed}.{_b64(key.sign(signed.encode()))}"


def verify(public: Ed25519PublicKey, code: str) -> Payload | None:
    """The payload of a genuine code; None for anything else (forged, truncated, garbage)."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH:
        return None
    parts = code.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        public.verify(_unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode())
        raw = json.loads(_unb64(parts[1]).decode())
        return Payload(
            receipt_id=str(raw["r"]),
            what=str(raw["w"]),
            on=str(raw["d"]),
            person=str(raw["p"]),
            person_hash=str(raw["h"]),
        )
    except (InvalidSignature, binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def load_or_create_signing_key(key_dir: Path) -> Ed25519PrivateKey:
    path = key_dir / SIGNING_KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if not create_once(path, pem):
        return load_or_create_signing_key(key_dir)  # another worker's key won: use it
    write_atomically(key_dir / PUBLIC_KEY_FILE, public_pem(key.public_key()).encode(), 0o644)
    return key


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_key_id(public: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
