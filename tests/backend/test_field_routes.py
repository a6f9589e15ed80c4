"""The field worker's routes: the work list to take offline, and visits without a face."""

from __future__ import annotations

import base64
import io
import subprocess
import uuid
from pathlib import Path
from typing import Any

from PIL import Image

from backend.idnumber import mask
from tests.backend.cert_helpers import (
    ENROL_A,
    OTHER,
    SAME_A,
    certify,
    challenge,
    device,
    enrol_face,
    field_phone,
    photo,
)
from tests.backend.conftest import PASSWORD, Api, valid_id
from tests.backend.test_archives import png_bytes


def pensioner(
    api: Api,
    seq: str,
    name: str,
    *,
    village: str = "V001",
    homebound: bool = False,
    awarded_on: str = "2025-06-01",
) -> str:
    """Enrolled at 60+ at the scheme start (no contributions needed), awarded on `awarded_on`
    (the award counts as a certification: 2025-06-01 is overdue on 2026-11-27)."""
    pid = api.enrol(
        valid_id("110105", "19500101", seq), name=name, village=village, homebound=homebound
    )
    r = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": awarded_on})
    assert r.status_code in (200, 201), r.text
    return pid


def visit(pid: str, outcome: str = "not_at_home", **extra: Any) -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "person_id": pid,
        "outcome": outcome,
        "visited_at": "2026-11-27T09:30:00+08:00",
        **extra,
    }


def test_worklist_has_due_and_overdue_people_of_own_villages_homebound_first_with_template(
    api: Api,
) -> None:
    walker = pensioner(api, "011", "甲")
    homebound = pensioner(api, "021", "乙", homebound=True)
    due = pensioner(api, "031", "丙", awarded_on="2025-12-10")  # valid through 2026-12-31: due
    pensioner(api, "041", "丁", awarded_on="2026-11-01")  # certified for a year yet
    pensioner(api, "051", "戊", village="V002")  # another village
    enrol_face(api, homebound, ENROL_A)

    r = api.get("/api/v1/field/worklist", "field_worker")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["person_id"] for p in body["persons"]] == [homebound, due, walker]
    first = body["persons"][0]
    assert (
        first["homebound"] is True
        and first["due_state"] == "overdue"
        and first["village_name"] == "东村"
    )
    # the ID number masked, as a field worker sees it on every other route
    number = valid_id("110105", "19500101", "021")
    assert first["address"] == "城关镇东村" and first["id_number"] == mask(number)
    assert first["id_number_masked"] == mask(number) and number not in r.text
    assert len(base64.b64decode(first["face_template"])) > 128
    assert body["persons"][1]["due_state"] == "due" and body["persons"][1]["face_template"] is None
    assert body["persons"][2]["last_certification"]["channel"] == "award"
    assert [v["code"] for v in body["villages"]] == ["V001"]


def test_worklist_is_for_field_workers_of_their_own_villages_only(api: Api) -> None:
    assert api.get("/api/v1/field/worklist", "clerk").status_code == 403
    assert api.get("/api/v1/field/worklist?village=V002", "field_worker").status_code == 403
    assert api.client.get("/api/v1/field/worklist").status_code == 401


def test_not_at_home_is_recorded_once_per_client_id(api: Api) -> None:
    pid = pensioner(api, "011", "甲")
    body = visit(pid, latitude=30.1, longitude=104.2, accuracy_m=12.0)
    first = api.post("/api/v1/field/visits", "field_worker", json=body)
    again = api.post("/api/v1/field/visits", "field_worker", json=body)
    assert first.status_code == 201 and again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["location"]["accuracy_m"] == 12.0
    changed = api.post("/api/v1/field/visits", "field_worker", json={**body, "note": "different"})
    assert changed.status_code == 409


def test_reported_dead_opens_one_review_case(api: Api) -> None:
    pid = pensioner(api, "011", "甲")
    body = visit(pid, "reported_dead", date_of_death="2026-11-20", note="儿子说上周去世")
    for _ in range(2):
        r = api.post("/api/v1/field/visits", "field_worker", json=body)
        assert r.status_code == 201, r.text
    cases = [
        c
        for c in api.get("/api/v1/review/cases?status=open", "reviewer").json()
        if c["person_id"] == pid
    ]
    assert len(cases) == 1 and cases[0]["reasons"][0] == "death_reported_by_family"
    assert r.json()["review_case_id"] == cases[0]["case_id"]


def test_visit_conflicts_are_problem_json(api: Api) -> None:
    other = pensioner(api, "011", "甲", village="V002")
    r = api.post("/api/v1/field/visits", "field_worker", json=visit(other))
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert "no longer assigned" in r.json()["detail"]
    assert api.post("/api/v1/field/visits", "field_worker", json=visit("P-NOPE")).status_code == 404

    certified = pensioner(api, "021", "乙")
    ok = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": certified,
            "channel": "counter",
            "certified_on": "2026-11-27",
            "evidence": "came to the hall",
        },
    )
    assert ok.status_code == 201, ok.text
    late = api.post(
        "/api/v1/field/visits", "field_worker", json=visit(certified, listed_on="2026-11-26")
    )
    assert late.status_code == 409 and "already certified on 2026-11-27" in late.json()["detail"]

    dead = pensioner(api, "031", "丙")
    assert (
        api.end(dead, {"date_of_death": "2026-11-01", "source": "family_report"}).status_code == 200
    )
    gone = api.post("/api/v1/field/visits", "field_worker", json=visit(dead))
    assert gone.status_code == 409 and "terminated" in gone.json()["detail"]


def jpeg_bytes(colour: tuple[int, int, int] = (30, 90, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(out, format="JPEG")
    return out.getvalue()


def attach(api: Api, cid: str, form: dict[str, str], docs: list[tuple[str, bytes, str]]):
    return api.post(
        f"/api/v1/field/visits/{cid}/attachments",
        "field_worker",
        data=form,
        files=[("documents", d) for d in docs],
    )


def blobs(tmp_path: Path) -> list[Path]:
    root = tmp_path / "data" / "archive"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "record.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_attachments_are_archived_for_county_staff_and_filed_once(api: Api, tmp_path: Path) -> None:
    pid = pensioner(api, "011", "甲")
    cid = str(uuid.uuid4())
    form = {"person_id": pid, "attestation": "我今天亲眼见到本人", "note": "卧床 <b>多年</b>"}
    photo, png = jpeg_bytes(), png_bytes()
    docs = [("d.jpg", photo, "image/jpeg"), ("hukou.png", png, "image/png")]
    first = attach(api, cid, form, docs)
    # the outbox resends after a lost answer: the same documents, no new rows
    again = attach(api, cid, form, docs)
    assert first.status_code == 201 and again.status_code == 201, first.text
    body = first.json()
    assert again.json() == body
    assert {k: body[k] for k in ("client_id", "person_id", "documents", "attestation")} == {
        "client_id": cid,
        "person_id": pid,
        "documents": 2,
        "attestation": True,
    }

    listed = api.get(f"/api/v1/persons/{pid}/documents", "clerk").json()
    assert [(d["kind"], d["filename"], d["content_type"]) for d in listed] == [
        ("field_attestation", f"visit-{cid}.attestation.pdf", "application/pdf"),
        ("field_document", f"visit-{cid}.document-1.jpg", "image/jpeg"),
        ("field_document", f"visit-{cid}.document-2.png", "image/png"),
    ]
    assert [d["document_id"] for d in listed] == [
        body["attestation_document_id"],
        *body["document_ids"],
    ]
    assert all(d["retain_until"] == "2036-11-27" for d in listed)  # 10 years, policy data
    assert all(d["created_by"] == "user:field_worker" for d in listed)

    # a clerk reads them back: the same bytes, and the record says what the worker wrote
    for doc, plain in zip(listed[1:], (photo, png), strict=True):
        assert api.get(f"/api/v1/documents/{doc['document_id']}/content", "clerk").content == plain
    record = api.get(f"/api/v1/documents/{listed[0]['document_id']}/content", "clerk")
    assert record.headers["content-type"] == "application/pdf"
    text = pdf_text(record.content, tmp_path)
    for words in (
        "上门走访记录",
        cid,
        pid,
        "我今天亲眼见到本人",
        "卧床 <b>多年</b>",
        "user:field_worker",
    ):
        assert words in text, words

    # sealed on disk, once each; the old per-visit folder is gone
    stored = blobs(tmp_path)
    assert len(stored) == 3
    assert not any(photo in f.read_bytes() or b"%PDF" in f.read_bytes() for f in stored)
    assert not (tmp_path / "data" / "field_visits").exists()

    # the same photo in another visit is another visit's document (one blob, two rows)
    other = attach(api, str(uuid.uuid4()), form, docs[:1])
    assert other.status_code == 201 and other.json()["document_ids"] != body["document_ids"][:1]
    assert len(api.get(f"/api/v1/persons/{pid}/documents", "clerk").json()) == 5
    assert len(blobs(tmp_path)) == 4  # the other visit's record is new; its photo is not


def test_attachments_are_refused_whole_when_a_document_is_not_acceptable(
    api: Api, tmp_path: Path
) -> None:
    pid = pensioner(api, "011", "甲")
    cid = str(uuid.uuid4())
    form = {"person_id": pid, "attestation": "我今天亲眼见到本人"}
    good = ("d.jpg", jpeg_bytes(), "image/jpeg")
    gif = attach(api, cid, form, [good, ("d.gif", b"GIF89a" + b"\0" * 64, "image/gif")])
    assert gif.status_code == 422 and "PDF, JPEG and PNG" in gif.json()["detail"]
    assert gif.headers["content-type"].startswith("application/problem+json")
    fake = attach(api, cid, form, [("d.jpg", b"\xff\xd8 not really a jpeg", "image/jpeg")])
    assert fake.status_code == 422
    huge = attach(
        api, cid, form, [good, ("big.jpg", b"\xff\xd8\xff" + b"0" * 10_485_760, "image/jpeg")]
    )
    assert huge.status_code == 413 and huge.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert attach(api, cid, {**form, "attestation": " "}, [good]).status_code == 422
    assert attach(api, "../x", form, [good]).status_code in (404, 422)
    elsewhere = pensioner(api, "021", "乙", village="V002")
    assert attach(api, cid, {**form, "person_id": elsewhere}, [good]).status_code == 403
    assert api.get(f"/api/v1/persons/{pid}/documents", "clerk").json() == []
    assert blobs(tmp_path) == []


def test_console_case_page_shows_the_visit_documents(api: Api) -> None:
    pid = pensioner(api, "011", "甲")
    body = visit(pid, "reported_dead", date_of_death="2026-11-20")
    assert api.post("/api/v1/field/visits", "field_worker", json=body).status_code == 201
    form = {"person_id": pid, "attestation": "家属当面告诉我本人已去世"}
    docs = [("d.jpg", jpeg_bytes(), "image/jpeg")]
    filed = attach(api, body["client_id"], form, docs).json()
    case_id = next(
        c["case_id"]
        for c in api.get("/api/v1/review/cases?status=open", "reviewer").json()
        if c["person_id"] == pid
    )
    client = api.client
    client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    page = client.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert "上门走访记录" in page.text and "走访证件照片" in page.text
    assert f"visit-{body['client_id']}.attestation.pdf" in page.text
    for doc_id in (filed["attestation_document_id"], *filed["document_ids"]):
        assert f'href="/console/documents/{doc_id}"' in page.text
    shown = client.get(f"/console/documents/{filed['attestation_document_id']}")
    assert shown.status_code == 200 and shown.content.startswith(b"%PDF")


def test_a_face_visit_after_a_certification_elsewhere_is_recorded_and_explained(
    api: Api,
) -> None:
    pid = pensioner(api, "011", "甲")
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    at_kiosk = certify(api, kiosk, pid, challenge(api, kiosk, pid), photo(SAME_A))
    assert at_kiosk.status_code == 201 and at_kiosk.json()["outcome"] == "passed", at_kiosk.text
    worker = api.auth("field_worker")
    phone = field_phone(api)  # its key registered as a field device

    def at_home(image: str = SAME_A, **extra: str):
        ch = challenge(api, worker, pid)
        fields = {"client_id": str(uuid.uuid4()), **extra}
        headers = {"Idempotency-Key": fields["client_id"]}
        return certify(
            api,
            worker,
            pid,
            ch,
            photo(image),
            channel="field",
            extra=fields,
            req_headers=headers,
            key=phone,
        )

    # the work list was downloaded the day before the kiosk: recorded all the same, explained
    late = at_home(listed_on="2026-11-26")
    assert late.status_code == 201, late.text
    body = late.json()
    assert body["outcome"] == "passed" and body["channel"] == "field"
    assert body["reasons"] == ["already_certified:kiosk:2026-11-27"]
    assert body["receipt"] is not None and body["valid_until"] == "2027-11-30"
    status = api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()
    assert status["last"]["certification_id"] == body["certification_id"]

    # no list date (an older app), or a list made after the certification: nothing to say
    assert at_home().json()["reasons"] == []
    assert at_home(listed_on="2026-11-28").json()["reasons"] == []

    # a failed face is explained too; referred to staff, the case carries only the face's reasons
    failed = at_home(listed_on="2026-11-26", image=OTHER).json()
    assert failed["outcome"] == "failed"
    assert failed["reasons"][0] == "no_match"
    assert failed["reasons"][-1] == "already_certified:kiosk:2026-11-27"
    refer = visit(pid, "refer_failed", certification_id=failed["certification_id"])
    case = api.post("/api/v1/field/visits", "field_worker", json=refer).json()["review_case_id"]
    reasons = next(
        c["reasons"]
        for c in api.get("/api/v1/review/cases?status=open", "reviewer").json()
        if c["case_id"] == case
    )
    assert reasons == ["field_face_failed", *failed["reasons"][:-1]]


def test_certified_meanwhile_at_the_counter_names_the_channel_and_day_on_every_resend(
    api: Api,
) -> None:
    pid = pensioner(api, "011", "甲")
    enrol_face(api, pid, ENROL_A)
    counter = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": pid,
            "channel": "counter",
            "certified_on": "2026-11-20",
            "evidence": "came to the hall",
        },
    )
    assert counter.status_code == 201, counter.text
    worker = api.auth("field_worker")
    phone = field_phone(api)  # its key registered as a field device
    ch = challenge(api, worker, pid)
    cid = str(uuid.uuid4())
    extra = {"client_id": cid, "listed_on": "2026-11-19"}

    def send(key: str | None):
        headers = {"Idempotency-Key": key} if key else None
        return certify(
            api,
            worker,
            pid,
            ch,
            photo(SAME_A),
            channel="field",
            extra=extra,
            req_headers=headers,
            key=phone,
        )

    sent = send(None)
    assert sent.status_code == 201 and sent.json()["reasons"] == [
        "already_certified:counter:2026-11-20"
    ]
    # resent after a lost answer: replayed by client_id (stored with the certification),
    # then by the Idempotency-Key
    assert send(None).json() == sent.json()
    assert send(cid).json() == sent.json()
    replayed = send(cid)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.json() == sent.json()


def test_listed_on_is_not_part_of_the_idempotency_digest(api: Api) -> None:
    """An outbox entry first sent by an app without listed_on, resent by one with it, gets
    the first answer, not a 409."""
    pid = pensioner(api, "011", "甲")
    enrol_face(api, pid, ENROL_A)
    worker = api.auth("field_worker")
    phone = field_phone(api)  # its key registered as a field device
    ch = challenge(api, worker, pid)
    cid = str(uuid.uuid4())
    headers = {"Idempotency-Key": cid}

    def send(**extra: str):
        fields = {"client_id": cid, **extra}
        return certify(
            api,
            worker,
            pid,
            ch,
            photo(SAME_A),
            channel="field",
            extra=fields,
            req_headers=headers,
            key=phone,
        )

    first = send()
    upgraded = send(listed_on="2026-11-19")
    assert first.status_code == upgraded.status_code == 201, upgraded.text
    assert upgraded.json() == first.json()


def test_refer_failed_needs_a_failed_field_certification_of_the_caller(api: Api) -> None:
    pid = pensioner(api, "011", "甲")
    r = api.post(
        "/api/v1/field/visits",
        "field_worker",
        json=visit(pid, "refer_failed", certification_id="cer_nope"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "certification_id"


def test_field_routes_never_answer_500_on_schema_shaped_input(api: Api) -> None:
    import schemathesis

    from tests.backend.test_api_fuzz import _fuzz

    pensioner(api, "011", "甲")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    chosen = [
        op
        # an operation the schema cannot describe (an Err) fails the test right here
        for op in (r.ok() for r in schema.get_all_operations())  # type: ignore[union-attr]  # Err has no ok()
        if op.path.startswith("/api/v1/field")
    ]
    assert len(chosen) == 3, [op.label for op in chosen]
    statuses: list[int] = []
    failures: list[str] = []
    for op in chosen:
        _fuzz(op, api.auth("field_worker"), statuses, failures)
    assert failures == []
    assert len(statuses) >= 15 and any(s < 300 for s in statuses)
