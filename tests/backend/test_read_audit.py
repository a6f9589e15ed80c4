"""Every staff read of personal data writes an audit event: a walk over all the app's routes.

A small county is seeded (a pensioner with a phone and a bank account who was paid, a
contributor, a suspension, a document, a review case). Then every GET route the app has,
in its OpenAPI schema or not (the console's pages too), is called with real ids as the first
staff role it lets in. A route that answers must have appended an event by that user, unless
it is in NO_DATA below, with its reason; and a NO_DATA route must not show any of the seeded
people's data. A route added later fails here until it is audited or classified.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from backend.api.audit import (
    NO_PERSONAL_DATA,
    SELF_AUDITED_READS,
    audit_reads,
    audit_reads_and_writes,
)
from backend.db import engine_for, session_scope
from backend.models import AuditEvent, ReviewCase, TransferDocument
from tests.backend.conftest import PASSWORD, Api, valid_id
from tests.backend.test_benefits_worked import run

OLD = valid_id("110105", "19450801", "021")
YOUNG = valid_id("110105", "19700101", "031")
PHONE = "13912345678"
BANK = "6222 0212 3456 7890"
STAFF_ROLES = ("admin", "clerk", "reviewer", "auditor", "field_worker")
_TOMORROW = (date.today() + timedelta(days=1)).isoformat()  # a change starts today or later
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# Routes that show no one's personal data: the API's own list, plus the app's plumbing.
NO_DATA: dict[str, str] = {
    **NO_PERSONAL_DATA,
    "/healthz": "liveness: the database dialect only",
    "/metrics": "Prometheus counters by route template and status",
    "/openapi.json": "the API's schema",
    "/docs": "the schema's HTML viewer",
    "/docs/oauth2-redirect": "the viewer's sign-in helper page",
    "/redoc": "the schema's other viewer",
    "/console": "a redirect to the queue",
    "/console/login": "the sign-in form",
    "/console/silent": "certified without coming in: counts and shares per village, no person",
    "/console/silent.png": "the same figures as a chart",
}


def _events(db_url: str) -> list[AuditEvent]:
    with Session(engine_for(db_url)) as s:
        return list(s.exec(select(AuditEvent).order_by(AuditEvent.id)).all())  # type: ignore[arg-type]


def _seed(api: Api, db_url: str) -> dict[str, str]:
    pid = api.enrol(OLD, name="赵大爷", enrolled_on="2010-07-05", phone=PHONE)
    r = api.post(
        f"/api/v1/persons/{pid}/award",
        "clerk",
        json={"awarded_on": "2010-07-20", "bank_account": BANK},
    )
    assert r.status_code == 201, r.text
    young = api.enrol(YOUNG, name="李小四")
    assert api.pay(young, 2011, 10000, "2011-03-01").status_code == 201
    run_id = run(api, "2010-08")["run_id"]
    api.approve_run(run_id)  # four eyes: a second admin releases the run (and its bank file)
    assert api.get(f"/api/v1/payroll-runs/{run_id}/bank-file").status_code == 200  # frozen
    r = api.post(
        f"/api/v1/persons/{pid}/suspensions",
        "clerk",
        json={"reason": "manual", "from_month": "2010-10", "note": "查实中"},
    )
    assert r.status_code == 201, r.text
    r = api.post(
        f"/api/v1/persons/{pid}/documents",
        "clerk",
        files={"file": ("form.pdf", PDF, "application/pdf")},
        data={"kind": "application_form"},
    )
    assert r.status_code == 201, r.text
    doc_id = r.json()["document_id"]
    # four eyes: a reported death waits for a second person; so does a new bank account
    r = api.post(f"/api/v1/persons/{young}/death", "clerk", json={"date_of_death": "2011-05-01"})
    assert r.status_code == 202, r.text
    termination_id = r.json()["termination_id"]
    r = api.post(
        f"/api/v1/persons/{pid}/bank-account",
        "clerk",
        json={"bank_account": "6222 0299 8888 7777", "effective_on": _TOMORROW, "reason": "换卡"},
    )
    assert r.status_code == 202, r.text
    request_id = r.json()["request_id"]
    r = api.post(
        "/api/v1/grievances",
        "clerk",
        json={"person_id": pid, "category": "suspension", "description": "要求恢复发放"},
    )
    assert r.status_code == 201, r.text
    grievance_id = r.json()["grievance_id"]
    with session_scope(engine_for(db_url)) as s:
        s.add(
            ReviewCase(
                id="case-walk-1",
                person_id=pid,
                reasons=json.dumps(["face_mismatch"]),
                status="open",
                created_at=datetime(2026, 11, 20, 9, 0),
            )
        )
        disbursement_id = s.execute(sa.text("SELECT id FROM disbursement")).scalar_one()
        # a transfer document (its JSON holds the full ID number, sealed under the person)
        body = {
            "format": "nongbao-transfer/1",
            "from_county": "本县",
            "to_county": "邻县",
            "issued_on": "2010-09-01",
            "person": {"name": "赵大爷", "id_number": OLD, "birth_date": "1945-08-01"},
            "buckets_fen": {"personal": 0},
            "total_fen": 0,
            "sha256": "0" * 64,
        }
        keyring = api.client.app.state.nongbao.keyring  # type: ignore[attr-defined]
        s.add(
            TransferDocument(
                id="tdoc-walk-1",
                person_id=pid,
                direction="out",
                county="邻县",
                total_fen=0,
                document_enc=keyring.encrypt_text(json.dumps(body), pid),
                sha256="0" * 64,
            )
        )
    return {
        "person_id": pid,
        "run_id": run_id,
        "doc_id": doc_id,
        "case_id": "case-walk-1",
        "termination_id": termination_id,
        "request_id": request_id,
        "disbursement_id": disbursement_id,
        "grievance_id": grievance_id,
        "document_id": "tdoc-walk-1",
        "year": "2010",
        "id_number": OLD,
        "code": "not-a-receipt",  # the public /r/<code> page answers for any code
    }


def _markers(ids: dict[str, str]) -> list[str]:
    """What a response without personal data must not contain."""
    return [OLD, YOUNG, OLD[-4:] + '"', "赵大爷", "李小四", PHONE, BANK, ids["person_id"]]


def _flatten(
    routes: list[Any], prefix: str = "", deps: frozenset[Any] = frozenset()
) -> list[tuple[str, Any, frozenset[Any]]]:
    """(path, route, router dependencies) of every route, through included routers."""
    out: list[tuple[str, Any, frozenset[Any]]] = []
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI >= 0.16x keeps included routers
        if inner is not None:
            ctx = r.include_context
            more = frozenset(d.dependency for d in getattr(ctx, "dependencies", []))
            out += _flatten(inner.routes, prefix + getattr(ctx, "prefix", ""), deps | more)
        elif getattr(r, "methods", None):
            own = frozenset(
                d.call for d in getattr(getattr(r, "dependant", None), "dependencies", [])
            )
            out.append((prefix + r.path, r, deps | own))
    return out


def _get_routes(api: Api) -> list[tuple[str, Any]]:
    app: Any = api.client.app
    routes = _flatten(app.routes)
    walked = {path for path, _, _ in routes}
    schema = {p for p, ops in app.openapi()["paths"].items() for m in ops if m in ("get", "post")}
    assert schema <= walked, f"the walk misses routes of the schema: {schema - walked}"
    return [
        (path, r) for path, r, _ in routes if "GET" in r.methods and path not in FAMILY_PHONE_READS
    ]


# reads only a signed-in family phone may make (no staff role reaches them); each audits
# itself, as tests/backend/test_family.py checks
FAMILY_PHONE_READS = {
    "/api/v1/family/pensioners": "family.pensioners: a family.list event per pensioner",
    "/api/v1/family/certifications/{certification_id}/qr.svg": "a family.receipt event",
}


def _url(path: str, ids: dict[str, str], route: Any) -> str:
    def fill(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        assert name in ids, f"{path}: seed a value for the path parameter {name!r}"
        return ids[name]

    url = re.sub(r"\{([^}]+)\}", fill, path)
    required = [
        p.name
        for p in getattr(getattr(route, "dependant", None), "query_params", [])
        if p.field_info.is_required()
    ]
    for name in required:
        assert name in ids, f"{path}: seed a value for the query parameter {name!r}"
    return url + ("?" + "&".join(f"{n}={ids[n]}" for n in required) if required else "")


def _console_login(api: Api) -> None:
    r = api.client.post(
        "/console/login",
        data={"username": "reviewer", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_every_read_of_personal_data_is_audited(api: Api, db_url: str) -> None:
    ids = _seed(api, db_url)
    for role in STAFF_ROLES:
        api.auth(role)
    _console_login(api)
    unaudited, leaky, unreached = [], [], []
    walked = 0
    for path, route in _get_routes(api):
        walked += 1
        url = _url(path, ids, route)
        before = len(_events(db_url))
        if path.startswith("/console"):
            r, role = api.client.get(url, follow_redirects=False), "reviewer"
            # a redirect is an answer for a page without data; for the others, the login
            ok = r.status_code < (400 if path in NO_DATA else 300)
        else:
            for role in STAFF_ROLES:  # the first staff role the route lets in
                r = api.get(url, role)
                if r.status_code < 300:
                    break
            ok = r.status_code < 300
        if not ok:
            unreached.append(f"{path}: {r.status_code} {r.text[:200]}")
            continue
        new = [e for e in _events(db_url)[before:] if e.actor == f"user:{role}"]
        if path in NO_DATA:
            body = r.text
            leaky += [f"{path} shows {m!r}" for m in _markers(ids) if m in body]
        elif not new:
            unaudited.append(f"{path} (read as {role})")
    assert walked > 30  # the walk reached the whole app, not only its top level
    assert not unreached, "routes the walk could not read: seed them\n" + "\n".join(unreached)
    assert not unaudited, "reads of personal data without an audit event:\n" + "\n".join(unaudited)
    assert not leaky, "routes classified as showing no personal data show some:\n" + "\n".join(
        leaky
    )


def test_the_bank_file_and_the_reports_name_their_run_in_the_event(api: Api, db_url: str) -> None:
    ids = _seed(api, db_url)
    bank = api.get(f"/api/v1/payroll-runs/{ids['run_id']}/bank-file")
    assert bank.status_code == 200 and BANK.replace(" ", "") in bank.text.replace(" ", "")
    statement = api.get(f"/api/v1/reports/monthly-statement/{ids['run_id']}?format=csv", "clerk")
    assert statement.status_code == 200
    publicity = api.get("/api/v1/reports/publicity/2010?village=V001", "reviewer")
    assert publicity.status_code == 200
    last = [(e.actor, e.action, e.subject) for e in _events(db_url)[-3:]]
    assert last == [
        ("user:admin", "read /api/v1/payroll-runs/{run_id}/bank-file", ids["run_id"]),
        (
            "user:clerk",
            "read /api/v1/reports/monthly-statement/{run_id}",
            f"{ids['run_id']};format=csv",
        ),
        ("user:reviewer", "read /api/v1/reports/publicity/{year}", "2010;village=V001"),
    ]


@pytest.mark.parametrize("path", sorted(NO_PERSONAL_DATA))
def test_every_unaudited_route_says_why(path: str) -> None:
    assert len(NO_PERSONAL_DATA[path]) > 10


# Writes outside the routers that audit_reads_and_writes covers: each records its own event
# in its service
# (or writes nothing and shows no one's data), tested where the act is tested.
SELF_AUDITED_WRITES: dict[str, str] = {
    "POST /api/v1/persons/{person_id}/face": "faces.enrol: face.enrol event",
    "POST /api/v1/persons/{person_id}/face/verify": "faces.verify: face.verify event",
    "POST /api/v1/challenges": "challenges.issue: challenge.issue event",
    "POST /api/v1/certifications": "certification.submit: certification.<channel> event",
    "POST /api/v1/certifications/manual": "certification.manual: one event per person",
    "POST /api/v1/imports/data-match": "one certification.<channel> event per matched person",
    "POST /api/v1/review/cases/{case_id}/decision": "review.decide: review.decision event",
    "POST /api/v1/kiosk/sessions": "kiosk.session.open event",
    "DELETE /api/v1/kiosk/sessions/{session_token}": "ends a session: shows no data",
    "POST /api/v1/kiosk/help-requests": "help_requests.open_request: kiosk.help_request event",
    "POST /api/v1/field/visits": "field.record_visit: field.visit event, in the visit's unit",
    "POST /api/v1/field/visits/{client_id}/attachments": "field.attach: field.attachments event",
    "POST /console/login": "console.login event",
    "POST /console/logout": "deletes the cookie: shows no data",
    "POST /console/cases/{case_id}/decision": "review.decide: review.decision event",
    "POST /api/v1/terminations/{termination_id}/confirm": "terminations.confirm: "
    "termination.confirm event (a replay writes none)",
    "POST /api/v1/terminations/{termination_id}/reject": "terminations.reject: "
    "termination.reject event",
    "POST /api/v1/terminations/{termination_id}/reinstate": "terminations.reinstate: "
    "termination.reinstate.propose / termination.reinstate event",
    "POST /api/v1/approvals/{request_id}/confirm": "four_eyes.confirm: <kind>.confirm event "
    "(a replay writes none)",
    "POST /api/v1/approvals/{request_id}/reject": "four_eyes.reject: <kind>.reject event",
    "POST /api/v1/persons/{person_id}/bank-account": "four_eyes.propose_bank_account: "
    "bank_account.propose event",
    "POST /console/grievances": "grievances.record: grievance.record event",
    "POST /api/v1/family/codes": "family.request_code: family.code event per registered "
    "pensioner (none for an unregistered number: nothing of anyone's is touched)",
    "POST /api/v1/family/sessions": "family.sign_in: family.sign_in event per pensioner",
    "DELETE /api/v1/family/sessions": "family.sign_out: family.sign_out event per pensioner",
    "POST /api/v1/sms/receipts": "notices.apply_receipt: sms.receipt event (the gateway's "
    "token, not a staff token)",
}


def test_every_write_route_is_audited_or_audits_itself(api: Api) -> None:
    """Writes need a body each, so they are checked by construction: a write route sits under
    audit_reads_and_writes, or its service records the event (classified above); a new one
    fails here."""
    app: Any = api.client.app
    unclassified, seen = [], set()
    for path, route, deps in _flatten(app.routes):
        seen |= {f"{m} {path}" for m in route.methods}
        for method in sorted(set(route.methods) - {"GET", "HEAD", "OPTIONS"}):
            name = f"{method} {path}"
            if audit_reads_and_writes not in deps and name not in SELF_AUDITED_WRITES:
                unclassified.append(name)
        unaudited = NO_PERSONAL_DATA.keys() | SELF_AUDITED_READS.keys()
        if "GET" in route.methods and path.startswith("/api/") and path not in unaudited:
            assert audit_reads in deps or audit_reads_and_writes in deps, (
                f"GET {path} is not under audit_reads"
            )
    assert set(SELF_AUDITED_WRITES) <= seen, set(SELF_AUDITED_WRITES) - seen  # no stale entry
    assert {f"GET {p}" for p in SELF_AUDITED_READS} <= seen, "a stale SELF_AUDITED_READS entry"
    assert not unclassified, (
        "write routes neither under audit_reads_and_writes nor self-audited:\n"
        + ("\n".join(unclassified))
    )
