"""Encryption of everything personal the device keeps: AES-GCM under a key the PIN unlocks.

A random data key encrypts the data; a key derived from the PIN (scrypt, random salt)
wraps the data key. Without the PIN the SQLite file holds only ciphertext. A short PIN
can be guessed offline by someone who copies the file, at scrypt's cost per guess: that is
why the app also wipes the store after a few wrong PINs and the offline period is short
(on Android the wrap key should additionally live in the Keystore; see docs/field.md).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

NONCE = 12


@dataclass(frozen=True)
class KdfCost:
    n: int = 2**15  # ~32 MiB and ~0.1 s on a phone per try
    r: int = 8
    p: int = 1


DEFAULT_COST = KdfCost()
FAST_COST = KdfCost(n=2**10)  # tests only


class WrongPin(Exception):
    pass


def valid_pin(pin: str) -> bool:
    return pin.isdigit() and 4 <= len(pin) <= 8


def derive(pin: str, salt: bytes, cost: KdfCost = DEFAULT_COST) -> bytes:
    return Scrypt(salt=salt, length=32, n=cost.n, r=cost.r, p=cost.p).derive(pin.encode())


class Vault:
    """Seals and opens blobs with the data key; `aad` binds a blob to its row, so a blob
    copied into another row does not open."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(data_key)
        self.data_key = data_key

    @classmethod
    def new(cls) -> Vault:
        return cls(AESGCM.generate_key(bit_length=256))

    def seal(self, data: bytes, aad: bytes = b"") -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, data, aad)

    def open(self, blob: bytes, aad: bytes = b"") -> bytes:
        return self._aead.decrypt(blob[:NONCE], blob[NONCE:], aad)


def wrap(vault: Vault, pin: str, cost: KdfCost = DEFAULT_COST) -> tuple[bytes, bytes]:
    """(salt, wrapped data key) to store."""
    salt = secrets.token_bytes(16)
    return salt, Vault(derive(pin, salt, cost)).seal(vault.data_key, b"data-key")


def unwrap(pin: str, salt: bytes, wrapped: bytes, cost: KdfCost = DEFAULT_COST) -> Vault:
    try:
        return Vault(Vault(derive(pin, salt, cost)).open(wrapped, b"data-key"))
    except InvalidTag:
        raise WrongPin("wrong PIN") from None
