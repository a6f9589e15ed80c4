"""`nongbao keys rotate` re-seals the document archive too, reports a damaged file without
stopping, and can be resumed; `nongbao keys status` counts what each key still seals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fastapi.testclient import TestClient

from backend.crypto import Keyring, load_keyring, save_keyring
from backend.services import archives
from tests.backend.conftest import Api, make_settings
from tests.backend.test_archives import PDF, archive_dir, blobs, person, png_bytes, upload
from tests.backend.test_cli import nongbao
from tests.conftest import TODAY
from tests.live import server_env

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + "身份证复印件 张三".encode()


def run(args: list[str], db_url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    r = nongbao([*args, "--json"], server_env(db_url, tmp_path))
    return r, json.loads(r.stdout) if r.stdout.strip() else {}


def ring_of(db_url: str, tmp_path: Path) -> Keyring:
    return load_keyring(make_settings(db_url, tmp_path).effective_key_file, create=False)


def key_ids(tmp_path: Path) -> set[str]:
    return {Keyring.key_id_of(p.read_bytes()) for p in archives.blob_files(archive_dir(tmp_path))}


def file_documents(api: Api, *contents: tuple[bytes, str]) -> list[dict]:
    pid = person(api)
    docs = [upload(api, pid, data, content_type=ctype) for data, ctype in contents]
    assert all(r.status_code == 201 for r in docs), [r.text for r in docs]
    return [r.json() for r in docs]


def read_back(db_url: str, tmp_path: Path, doc_id: str) -> bytes:
    """A document through the API of a restarted server (it loads the rotated key file)."""
    from backend.app import create_app

    with TestClient(create_app(make_settings(db_url, tmp_path), today=lambda: TODAY)) as client:
        r = Api(client).get(f"/api/v1/documents/{doc_id}/content", "clerk")
    assert r.status_code == 200, r.text
    return r.content


def test_rotate_reseals_the_archive_and_status_counts_per_key(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    pdf, png = file_documents(api, (PDF, "application/pdf"), (png_bytes(), "image/png"))
    key_file = make_settings(db_url, tmp_path).effective_key_file
    before = {p: p.read_bytes() for p in [*blobs(tmp_path), key_file]}

    r, status = run(["keys", "status"], db_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert status["current"] == "k1" and status["keys"] == {
        "k1": {"values": 1, "blobs": 2, "current": True, "in_key_file": True}
    }
    assert {p: p.read_bytes() for p in before} == before  # read-only

    r, out = run(["keys", "rotate"], db_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert out["key_id"] == "k2" and out["resealed"]["person"] == 1
    assert out["archive"] == {"resealed": 2, "current": 0, "damaged": 0}
    assert out["keys"]["k1"] == {"values": 0, "blobs": 0, "current": False, "in_key_file": True}
    assert out["keys"]["k2"] == {"values": 1, "blobs": 2, "current": True, "in_key_file": True}
    assert key_ids(tmp_path) == {"k2"}
    assert not list(archive_dir(tmp_path).rglob(".tmp-*"))  # no temporary file left behind
    assert read_back(db_url, tmp_path, pdf["document_id"]) == PDF
    assert read_back(db_url, tmp_path, png["document_id"]) == png_bytes()

    r, status = run(["keys", "status"], db_url, tmp_path)
    assert r.returncode == 0 and {
        k: (v["values"], v["blobs"]) for k, v in status["keys"].items()
    } == {
        "k1": (0, 0),
        "k2": (1, 2),
    }
    human = nongbao(["keys", "status"], server_env(db_url, tmp_path))
    assert "k1: 0 values, 0 archive files no longer needed" in human.stdout, human.stdout


def test_a_damaged_file_is_reported_the_others_rotated_and_a_rerun_is_harmless(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    docs = file_documents(
        api, (PDF, "application/pdf"), (png_bytes(), "image/png"), (JPEG, "image/jpeg")
    )
    bad = docs[0]
    bad_path = archive_dir(tmp_path) / bad["sha256"][:2] / bad["sha256"]
    damaged = bytearray(bad_path.read_bytes())
    damaged[-5] ^= 0x01
    bad_path.write_bytes(bytes(damaged))

    r, out = run(["keys", "rotate"], db_url, tmp_path)
    assert r.returncode == 1
    assert out["key_id"] == "k2" and out["archive"] == {"resealed": 2, "current": 0, "damaged": 1}
    assert bad["sha256"] in r.stderr and bad["document_id"] in r.stderr
    assert "keys rotate --resume" in r.stderr
    assert bad_path.read_bytes() == bytes(damaged)  # left untouched
    assert {p.name: Keyring.key_id_of(p.read_bytes()) for p in blobs(tmp_path)} == {
        bad["sha256"]: "k1",
        docs[1]["sha256"]: "k2",
        docs[2]["sha256"]: "k2",
    }
    assert out["keys"]["k1"]["blobs"] == 1 and out["keys"]["k2"]["blobs"] == 2

    # re-run (as after a crash): no new key, nothing re-sealed twice, still non-zero
    sealed = {p: p.read_bytes() for p in blobs(tmp_path)}
    r, out = run(["keys", "rotate", "--resume"], db_url, tmp_path)
    assert r.returncode == 1 and bad["document_id"] in r.stderr
    assert out["key_id"] == "k2" and set(ring_of(db_url, tmp_path).data_keys) == {"k1", "k2"}
    assert out["resealed"] == {
        "person": 0,
        "face_template": 0,
        "review_case": 0,
        "certification": 0,
        "disbursement_item": 0,
        "heir": 0,
        "transfer_document": 0,
        "payee_account": 0,
        "award": 0,
        "payroll_line": 0,
        "four_eyes_request": 0,
    }
    assert out["archive"] == {"resealed": 0, "current": 2, "damaged": 1}
    assert {p: p.read_bytes() for p in blobs(tmp_path)} == sealed

    # a plain rotate again is harmless too: a third key, everything readable moves to it
    r, out = run(["keys", "rotate"], db_url, tmp_path)
    assert r.returncode == 1 and out["key_id"] == "k3"
    assert out["archive"] == {"resealed": 2, "current": 0, "damaged": 1}
    for doc, plain in zip(docs[1:], (png_bytes(), JPEG), strict=True):
        assert read_back(db_url, tmp_path, doc["document_id"]) == plain


def test_resume_finishes_a_rotation_that_stopped_midway(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    docs = file_documents(api, (PDF, "application/pdf"), (png_bytes(), "image/png"))
    # what a crash leaves: the new key saved, one file re-sealed, the columns not yet
    ring = ring_of(db_url, tmp_path)
    ring.rotate()
    save_keyring(ring, make_settings(db_url, tmp_path).effective_key_file)
    first = archives.blob_files(archive_dir(tmp_path))[0]
    assert archives.reseal_blob(ring, first) == archives.RESEALED
    (first.parent / ".tmp-leftover").write_bytes(b"half written")  # a write cut short

    r, out = run(["keys", "rotate", "--resume"], db_url, tmp_path)
    assert r.returncode == 0, r.stderr
    assert out["key_id"] == "k2" and out["resealed"]["person"] == 1
    assert out["archive"] == {"resealed": 1, "current": 1, "damaged": 0}
    assert key_ids(tmp_path) == {"k2"}
    assert read_back(db_url, tmp_path, docs[0]["document_id"]) == PDF
