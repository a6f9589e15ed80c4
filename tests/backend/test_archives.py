"""Document archives: upload, list, read back, dedupe, type and size checks, tampering,
retention disposal and village scope (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from tests.backend.cert_helpers import ENROL_B, GREY_B, certify, challenge, device, elder
from tests.backend.cert_helpers import enrol_face as enrol_face_photo
from tests.backend.cert_helpers import photo as face_photo
from tests.backend.conftest import PASSWORD, Api, valid_id
from tests.live import ROOT, server_env

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n" + "参保申请表 张三 scanned application form".encode()
)
PDF_SHA = hashlib.sha256(PDF).hexdigest()


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "archive"


def blobs(tmp_path: Path) -> list[Path]:
    root = archive_dir(tmp_path)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(
    api: Api,
    person_id: str,
    data: bytes,
    *,
    kind: str = "application_form",
    filename: str = "form.pdf",
    content_type: str = "application/pdf",
    role: str = "clerk",
):
    return api.post(
        f"/api/v1/persons/{person_id}/documents",
        role,
        files={"file": (filename, data, content_type)},
        data={"kind": kind},
    )


def person(api: Api, seq: str = "001", village: str = "V001") -> str:
    return api.enrol(valid_id("110101", "19500101", seq), village=village)


def test_upload_list_read_back_encrypted_on_disk_and_deduped(
    api: Api, tmp_path: Path, db_url: str
) -> None:
    pid = person(api)
    r = upload(api, pid, PDF)
    assert r.status_code == 201, r.text
    pdf_doc = r.json()
    assert pdf_doc["content_type"] == "application/pdf"
    assert pdf_doc["sha256"] == hashlib.sha256(PDF).hexdigest() and pdf_doc["size"] == len(PDF)
    assert pdf_doc["retain_until"] == "2056-11-27"  # application forms: 30 years
    png = png_bytes()
    r = upload(
        api,
        pid,
        png,
        kind="review_evidence",
        filename="../../evidence.png",
        content_type="image/png",
        role="reviewer",
    )
    assert r.status_code == 201, r.text
    png_doc = r.json()
    assert png_doc["filename"] == "evidence.png" and png_doc["retain_until"] == "2036-11-27"

    listed = api.get(f"/api/v1/persons/{pid}/documents", "auditor")
    assert listed.status_code == 200
    assert [d["document_id"] for d in listed.json()] == [
        pdf_doc["document_id"],
        png_doc["document_id"],
    ]

    for doc, plain in ((pdf_doc, PDF), (png_doc, png)):
        got = api.get(f"/api/v1/documents/{doc['document_id']}/content", "clerk")
        assert got.status_code == 200
        assert got.content == plain
        assert got.headers["content-type"] == doc["content_type"]
        assert got.headers["x-content-type-options"] == "nosniff"

    # on disk: content-addressed, and not the plaintext
    sha = pdf_doc["sha256"]
    path = archive_dir(tmp_path) / sha[:2] / sha
    stored = path.read_bytes()
    assert stored != PDF and b"%PDF" not in stored and "张三".encode() not in stored

    # the same content again (another kind, another user): a new row, no new blob
    r = upload(api, pid, PDF, kind="other", filename="copy.pdf", role="admin")
    assert r.status_code == 201 and r.json()["sha256"] == sha
    assert r.json()["document_id"] != pdf_doc["document_id"]
    assert len(blobs(tmp_path)) == 2
    assert len(api.get(f"/api/v1/persons/{pid}/documents").json()) == 3

    # reads are audited; the upload is audited by the router
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        actions = [
            row[0] for row in conn.execute(sa.text("SELECT action FROM audit_event ORDER BY id"))
        ]
    engine.dispose()
    assert actions.count("archives.document.read") == 2
    assert f"POST /api/v1/persons/{pid}/documents" in actions


def test_every_kind_has_a_retention_in_the_policy_model_and_the_county_file() -> None:
    import tomllib

    from backend.models import ARCHIVE_KINDS
    from backend.policy.model import DEFAULT_POLICY_FILE, ArchivesPolicy

    configured = tomllib.loads(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))["archives"]
    policy = ArchivesPolicy.model_validate(configured)
    for kind in ARCHIVE_KINDS:
        assert kind in configured and kind in ArchivesPolicy.model_fields, kind
        assert policy.retention_years(kind) >= 1
        assert len(kind) <= 20  # archive_document.kind


def test_refuses_wrong_types_bad_kinds_and_too_large(api: Api, tmp_path: Path) -> None:
    pid = person(api)
    text_as_pdf = upload(api, pid, b"just some text, renamed\n", filename="form.pdf")
    assert text_as_pdf.status_code == 422 and "PDF, JPEG and PNG" in text_as_pdf.text
    png_as_pdf = upload(api, pid, png_bytes(), filename="form.pdf")
    assert png_as_pdf.status_code == 422 and "image/png" in png_as_pdf.text
    html = upload(api, pid, b"<html><script>alert(1)</script>", content_type="text/html")
    assert html.status_code == 422
    assert upload(api, pid, PDF, kind="selfie").status_code == 422
    assert upload(api, pid, b"", filename="empty.pdf").status_code == 422
    too_large = upload(api, pid, b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024))
    assert too_large.status_code == 413, too_large.text
    assert upload(api, pid, PDF, role="auditor").status_code == 403
    assert upload(api, pid, PDF, role="field_worker").status_code == 403
    assert upload(api, "P-NOBODY", PDF).status_code == 404
    assert api.get(f"/api/v1/persons/{pid}/documents").json() == []
    assert blobs(tmp_path) == []


def test_a_tampered_or_swapped_blob_is_an_error_not_garbage(api: Api, tmp_path: Path) -> None:
    pid = person(api)
    pdf = upload(api, pid, PDF).json()
    png = upload(api, pid, png_bytes(), content_type="image/png", kind="other").json()
    path = archive_dir(tmp_path) / pdf["sha256"][:2] / pdf["sha256"]
    good = path.read_bytes()

    damaged = bytearray(good)
    damaged[-5] ^= 0x01
    path.write_bytes(bytes(damaged))
    r = api.get(f"/api/v1/documents/{pdf['document_id']}/content")
    assert r.status_code == 500
    assert r.json()["type"].endswith("/archive-damaged") and "does not open" in r.json()["detail"]

    # another document's (valid) blob put in its place: sealed to the other sha256
    other = archive_dir(tmp_path) / png["sha256"][:2] / png["sha256"]
    path.write_bytes(other.read_bytes())
    r = api.get(f"/api/v1/documents/{pdf['document_id']}/content")
    assert r.status_code == 500 and r.json()["type"].endswith("/archive-damaged")

    path.unlink()
    r = api.get(f"/api/v1/documents/{pdf['document_id']}/content")
    assert r.status_code == 500 and "missing" in r.json()["detail"]

    path.write_bytes(good)
    assert api.get(f"/api/v1/documents/{pdf['document_id']}/content").content == PDF


def _dispose(db_url: str, tmp_path: Path, today: str) -> dict[str, object]:
    r = subprocess.run(
        [sys.executable, "-m", "nongbao", "archives", "dispose", "--today", today, "--json"],
        capture_output=True,
        text=True,
        env=server_env(db_url, tmp_path),
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_retention_disposal_removes_a_blob_only_when_every_document_is_expired(
    api: Api, tmp_path: Path, db_url: str
) -> None:
    pid = person(api)
    shared_other = upload(api, pid, PDF, kind="other").json()  # kept until 2031-11-27
    shared_form = upload(api, pid, PDF, kind="application_form").json()  # until 2056-11-27
    lone = upload(api, pid, png_bytes(), content_type="image/png", kind="other").json()
    shared_blob = archive_dir(tmp_path) / PDF_SHA[:2] / PDF_SHA
    lone_blob = archive_dir(tmp_path) / lone["sha256"][:2] / lone["sha256"]

    # on the last day of retention nothing goes
    assert _dispose(db_url, tmp_path, "2031-11-27") == {
        "as_of": "2031-11-27",
        "documents": 0,
        "blobs_removed": 0,
        "blobs_kept": 0,
    }
    assert shared_blob.exists() and lone_blob.exists()

    # the day after: both "other" documents go; the shared content stays for the form
    assert _dispose(db_url, tmp_path, "2031-11-28") == {
        "as_of": "2031-11-28",
        "documents": 2,
        "blobs_removed": 1,
        "blobs_kept": 1,
    }
    assert shared_blob.exists() and not lone_blob.exists()
    assert [d["document_id"] for d in api.get(f"/api/v1/persons/{pid}/documents").json()] == [
        shared_form["document_id"]
    ]
    assert api.get(f"/api/v1/documents/{shared_other['document_id']}/content").status_code == 404
    assert api.get(f"/api/v1/documents/{shared_form['document_id']}/content").content == PDF

    # once the form's retention ends too, the content goes; the rows never do
    assert _dispose(db_url, tmp_path, "2056-11-28")["blobs_removed"] == 1
    assert blobs(tmp_path) == []
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT count(*), count(deleted_at) FROM archive_document")
        ).one()
        disposals = conn.execute(
            sa.text("SELECT count(*) FROM audit_event WHERE action = 'archives.document.dispose'")
        ).scalar_one()
    engine.dispose()
    assert tuple(rows) == (3, 3) and disposals == 3
    assert _dispose(db_url, tmp_path, "2060-01-01")["documents"] == 0  # idempotent


def test_field_workers_see_only_their_villages_documents(api: Api) -> None:
    inside = person(api, "001", "V001")
    outside = person(api, "002", "V002")
    mine = upload(api, inside, PDF).json()
    theirs = upload(api, outside, PDF).json()
    assert len(api.get(f"/api/v1/persons/{inside}/documents", "field_worker").json()) == 1
    assert api.get(f"/api/v1/persons/{outside}/documents", "field_worker").status_code == 403
    assert (
        api.get(f"/api/v1/documents/{mine['document_id']}/content", "field_worker").content == PDF
    )
    r = api.get(f"/api/v1/documents/{theirs['document_id']}/content", "field_worker")
    assert r.status_code == 403
    assert api.get(f"/api/v1/persons/{inside}/documents", None).status_code == 401
    assert api.get("/api/v1/documents/nope/content").status_code == 404


def test_console_case_page_lists_documents_and_shows_them(api: Api) -> None:
    pid = elder(api, name="李四")
    enrol_face_photo(api, pid, ENROL_B)
    kiosk = device(api)
    certify(api, kiosk, pid, challenge(api, kiosk, pid), face_photo(GREY_B))
    case_id = api.get("/api/v1/review/cases", "reviewer").json()[0]["case_id"]
    doc = upload(api, pid, PDF, kind="review_evidence", filename="走访记录.pdf").json()
    client = api.client

    signed_out = client.get(f"/console/documents/{doc['document_id']}", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/login"
    client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    page = client.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert 'id="documents"' in page.text and "走访记录.pdf" in page.text
    assert f'href="/console/documents/{doc["document_id"]}"' in page.text
    assert "复核材料" in page.text
    shown = client.get(f"/console/documents/{doc['document_id']}")
    assert shown.status_code == 200 and shown.content == PDF
    assert shown.headers["content-type"] == "application/pdf"
    assert client.get("/console/documents/missing").status_code == 404
