"""Personal data at rest: AES-GCM encryption and a keyed hash (HMAC-SHA256) for look-ups.

The key file holds one index key (never rotated: the look-up hashes depend on it) and one or
more data keys by id; ciphertexts name the data key that sealed them, so a rotation adds a
key and re-seals at leisure while old rows stay readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.files import create_once, write_atomically

FORMAT_VERSION = 1
# a ciphertext's header: version, id length, id (at most 255 bytes); enough to name its key
HEADER_MAX = 2 + 255


class KeyError_(RuntimeError):
    """The key file is missing, unreadable or does not hold the key a ciphertext needs."""


@dataclass
class Keyring:
    index_key: bytes
    data_keys: dict[str, bytes]
    current: str
    _aead: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    @classmethod
    def generate(cls) -> Keyring:
        return cls(
            index_key=secrets.token_bytes(32),
            data_keys={"k1": secrets.token_bytes(32)},
            current="k1",
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        raw = json.loads(text)
        return cls(
            index_key=base64.b64decode(raw["index_key"]),
            data_keys={k: base64.b64decode(v) for k, v in raw["data_keys"].items()},
            current=raw["current"],
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "index_key": base64.b64encode(self.index_key).decode(),
                "data_keys": {k: base64.b64encode(v).decode() for k, v in self.data_keys.items()},
                "current": self.current,
            },
            indent=2,
        )

    def rotate(self) -> str:
        kid = f"k{len(self.data_keys) + 1}"
        while kid in self.data_keys:
            kid += "x"
        self.data_keys[kid] = secrets.token_bytes(32)
        self.current = kid
        return kid

    def lookup_hash(self, value: str, purpose: str = "id_number") -> str:
        return hmac.new(self.index_key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        kid = self.current.encode()
        nonce = os.urandom(12)
        sealed = self._cipher(self.current).encrypt(nonce, plaintext, associated)
        return bytes([FORMAT_VERSION, len(kid)]) + kid + nonce + sealed

    def decrypt(self, blob: bytes, associated: bytes = b"") -> bytes:
        if not blob or blob[0] != FORMAT_VERSION:
            raise KeyError_("unknown ciphertext format")
        klen = blob[1]
        kid = blob[2 : 2 + klen].decode()
        if kid not in self.data_keys:
            raise KeyError_(f"data key {kid!r} is not in the key file")
        nonce = blob[2 + klen : 14 + klen]
        return self._cipher(kid).decrypt(nonce, blob[14 + klen :], associated)

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The id of the data key that sealed `blob`: it is in the clear, no key is needed."""
        return blob[2 : 2 + blob[1]].decode()

    @staticmethod
    def sealed_key_id(blob: bytes) -> str | None:
        """Like `key_id_of`, but None for bytes that are not one of our ciphertexts (or only
        its first bytes: a header is enough)."""
        if len(blob) < 2 or blob[0] != FORMAT_VERSION or len(blob) < 2 + blob[1]:
            return None
        try:
            return Keyring.key_id_of(blob)
        except UnicodeDecodeError:
            return None

    def fingerprint(self, kid: str) -> str:
        """A short check value of a data key (an HMAC under the key, which reveals nothing of
        it): tells two key files apart even when both call their key "k1"."""
        return hmac.new(
            self.data_keys[kid], b"nongbao key fingerprint", hashlib.sha256
        ).hexdigest()[:16]

    def encrypt_text(self, text: str, associated: str = "") -> bytes:
        return self.encrypt(text.encode(), associated.encode())

    def decrypt_text(self, blob: bytes, associated: str = "") -> str:
        return self.decrypt(blob, associated.encode()).decode()

    def _cipher(self, kid: str) -> AESGCM:
        if kid not in self._aead:
            self._aead[kid] = AESGCM(self.data_keys[kid])
        return self._aead[kid]


def load_keyring(path: Path, env_value: str | None = None, *, create: bool = True) -> Keyring:
    """Read the key file (or the JSON in NONGBAO_MASTER_KEY); create it on first use."""
    if env_value:
        return Keyring.from_json(base64.b64decode(env_value).decode())
    if path.exists():
        return Keyring.from_json(path.read_text())
    if not create:
        raise KeyError_(f"key file {path} does not exist")
    ring = Keyring.generate()
    if not create_once(path, ring.to_json().encode()):
        return Keyring.from_json(path.read_text())  # another process created it first
    return ring


def save_keyring(ring: Keyring, path: Path) -> None:
    write_atomically(path, ring.to_json().encode())
