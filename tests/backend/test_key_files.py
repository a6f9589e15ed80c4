"""Key files are created once: workers starting together on a fresh data folder all end up
with the same key (two keys would leave one worker's receipts or ciphertext orphaned)."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.crypto import load_keyring
from backend.files import create_once
from backend.receipts import SIGNING_KEY_FILE, load_or_create_signing_key, public_pem


def _together(n: int, work) -> list:
    start, results = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        start.wait()
        results[i] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_threads_share_one_receipt_signing_key(tmp_path: Path) -> None:
    for round_ in range(5):
        folder = tmp_path / f"keys{round_}"
        keys = _together(8, lambda folder=folder: load_or_create_signing_key(folder))
        published = {public_pem(k.public_key()) for k in keys}
        assert len(published) == 1
        on_disk = serialization.load_pem_private_key(
            (folder / SIGNING_KEY_FILE).read_bytes(), password=None
        )
        assert isinstance(on_disk, Ed25519PrivateKey)
        assert public_pem(on_disk.public_key()) in published
        assert (folder / "receipt_signing.pub").read_text() in published
        assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == []


def _keyring_json(path: str) -> str:
    return load_keyring(Path(path)).to_json()


def test_racing_processes_share_one_master_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    with ProcessPoolExecutor(4) as pool:
        rings = set(pool.map(_keyring_json, [str(path)] * 16))
    assert rings == {path.read_text()}
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_create_once_keeps_the_first_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "f"
    assert create_once(path, b"first") is True
    assert create_once(path, b"second") is False
    assert path.read_bytes() == b"first" and [p.name for p in path.parent.iterdir()] == ["f"]
