"""Scored silent certification through the API: typed sources only, scores and thresholds,
negative signals hold and review (never terminate), imports all-or-nothing and idempotent."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from backend.db import engine_for
from tests.backend.conftest import Api, valid_id
from tests.notices.helpers import pensioner

HOSPITAL = "身份证号,姓名,就诊日期,结算流水号\n"
TICKET = "证件号码,乘客姓名,乘车日期,票号\n"
CARE_HOME = "身份证号,姓名,名册日期,床位号\n"
CREMATION = "逝者身份证号,逝者姓名,火化日期,火化证明编号\n"


def _id(seq: str) -> str:
    return valid_id("110105", "19450801", seq)


def _import(api: Api, source: str, text: str, encoding: str = "utf-8") -> dict:
    r = api.post(
        "/api/v1/imports/data-match",
        "clerk",
        data={"source": source},
        files={"file": ("evidence.csv", text.encode(encoding), "text/csv")},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _count(db_url: str, table: str) -> int:
    with engine_for(db_url).connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_free_text_evidence_certifies_nobody(api: Api, db_url: str) -> None:
    pid = pensioner(api, "011", awarded_on="2025-10-10", name="钱大妈")
    old = f"id_number,name,certified_on,evidence\n{_id('011')},钱大妈,2026-11-20,x\n".encode()
    files = {"file": ("m.csv", old, "text/csv")}
    no_source = api.post("/api/v1/imports/data-match", "clerk", files=files)
    assert no_source.status_code == 422 and no_source.json()["code"]
    for source, code in (("x", "unknown_source"), ("hospital_visit", "bad_header")):
        r = api.post("/api/v1/imports/data-match", "clerk", data={"source": source}, files=files)
        assert (r.status_code, r.json()["code"]) == (422, code), r.text
    injected = api.post(
        "/api/v1/imports/data-match", "clerk", data={"source": "../../etc"}, files=files
    )
    assert injected.status_code == 422
    assert api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()["status"] == "overdue"
    assert _count(db_url, "silent_evidence") == 0


def test_strong_evidence_certifies_with_a_receipt_and_says_why(api: Api) -> None:
    pid = pensioner(api, "011", awarded_on="2025-10-10", name="钱大妈")
    done = _import(api, "hospital_visit", HOSPITAL + f"{_id('011')},钱大妈,2026-11-20,YB-778\n")
    assert (done["certified"], done["results"]) == (
        1,
        [{"person_id": pid, "level": "strong", "score": 100}],
    )
    status = api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()
    last = status["last_passed"]
    assert (last["channel"], last["certified_on"], last["valid_until"]) == (
        "data_match",
        "2026-11-20",
        "2027-11-30",
    )
    assert last["receipt"]["code"].startswith("NB1.")
    why = api.get(f"/api/v1/persons/{pid}/silent-certification", "clerk").json()
    [line] = why["results"][0]["explanation"]
    assert (line["label"], line["weight"], line["counted"], line["why"]) == (
        "医保定点医疗机构本人就诊",
        100,
        True,
        "counted",
    )


def test_medium_goes_on_the_field_list_weak_does_nothing_two_mediums_add_up(api: Api) -> None:
    mid = pensioner(api, "011", awarded_on="2025-10-10", name="钱大妈")
    weak = pensioner(api, "021", awarded_on="2025-10-12", name="孙大爷")
    done = _import(
        api,
        "travel_ticket",
        TICKET
        + f"{_id('011')},钱大妈,2026-11-01,G1234-05A\n{_id('021')},孙大爷,2026-08-01,K88-12\n",
    )
    levels = {r["person_id"]: (r["level"], r["score"]) for r in done["results"]}
    assert levels == {mid: ("medium", 50), weak: ("weak", 0)}
    assert done["certified"] == 0 and done["field_list"] == 1
    old = api.get(f"/api/v1/persons/{weak}/silent-certification", "clerk").json()["evidence"]
    assert old[0]["counted"] is False and old[0]["why"] == "older than 60 days"

    work = api.get("/api/v1/field/worklist", "field_worker").json()["persons"]
    hints = {p["person_id"]: p["silent_evidence"] for p in work}
    assert hints[mid]["evidence"] == ["凭身份证购买火车票或机票 2026-11-01"] and hints[weak] is None

    again = _import(api, "care_home_roster", CARE_HOME + f"{_id('011')},钱大妈,2026-11-25,3-201\n")
    assert again["results"] == [{"person_id": mid, "level": "strong", "score": 110}]
    status = api.get(f"/api/v1/persons/{mid}/certification", "clerk").json()
    assert status["last_passed"]["certified_on"] == "2026-11-25"


def test_a_cremation_record_holds_and_opens_a_review_never_terminates(api: Api) -> None:
    pid = pensioner(api, "011", awarded_on="2026-06-01", name="钱大妈")
    _import(api, "hospital_visit", HOSPITAL + f"{_id('011')},钱大妈,2026-11-20,YB-1\n")
    done = _import(api, "cremation", CREMATION + f"{_id('011')},钱大妈,2026-11-24,HH-2026-0099\n")
    assert done["held"] == 1 and done["certified"] == 0
    person = api.get(f"/api/v1/persons/{pid}", "clerk").json()
    assert person["status"] == "suspended"  # held, not terminated
    [hold] = api.get(f"/api/v1/persons/{pid}/suspensions", "clerk").json()
    assert hold["reason"] == "investigation" and "殡葬火化记录" in hold["note"]
    cases = [c for c in api.get("/api/v1/review/cases", "reviewer").json() if c["person_id"] == pid]
    assert len(cases) == 1 and "death_signal" in str(cases[0]["reasons"])
    # a later strong trace does not certify past the negative signal, nor open a second case
    later = _import(
        api,
        "bank_counter",
        "证件号码,客户姓名,交易日期,交易流水号\n" + f"{_id('011')},钱大妈,2026-11-26,BK-9\n",
    )
    assert later["results"][0]["level"] == "hold" and later["certified"] == 0
    cases = [c for c in api.get("/api/v1/review/cases", "reviewer").json() if c["person_id"] == pid]
    assert len(cases) == 1


def test_the_same_file_twice_changes_nothing(api: Api, db_url: str) -> None:
    pid = pensioner(api, "011", awarded_on="2025-10-10", name="钱大妈")
    text = HOSPITAL + f"{_id('011')},钱大妈,2026-11-20,YB-778\n"
    first = _import(api, "hospital_visit", text)
    counts = {
        t: _count(db_url, t)
        for t in ("silent_evidence", "silent_result", "certification", "receipt")
    }
    second = _import(api, "hospital_visit", text)
    assert second["already_imported"] and second["import_id"] == first["import_id"]
    # the same traces in another file (GB18030, a blank line): known already, nothing new
    third = _import(api, "hospital_visit", text + "\n", encoding="gb18030")
    assert not third["already_imported"] and third["persons_with_new_evidence"] == 0
    assert counts == {
        t: _count(db_url, t)
        for t in ("silent_evidence", "silent_result", "certification", "receipt")
    }
    assert (
        len(api.get(f"/api/v1/persons/{pid}/silent-certification", "clerk").json()["results"]) == 1
    )


def test_one_bad_row_refuses_the_whole_file(api: Api, db_url: str) -> None:
    pensioner(api, "011", awarded_on="2025-10-10", name="钱大妈")
    bad = HOSPITAL + (
        f"{_id('011')},钱大妈,2026-11-20,YB-1\n"
        f"{_id('099')},无此人,2026-11-20,YB-2\n"
        f"{_id('011')},钱大妈,2026-12-20,YB-3\n"
        f"{_id('011')},李四,2026-11-20,YB-4\n"
        f"{_id('011')},钱大妈,2026-11-21,\n"
    )
    r = api.post(
        "/api/v1/imports/data-match",
        "clerk",
        data={"source": "hospital_visit"},
        files={"file": ("e.csv", bad.encode(), "text/csv")},
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [
        "row 3",
        "row 4",
        "row 5",
        "row 6",
    ]
    assert _count(db_url, "silent_evidence") == 0 and _count(db_url, "evidence_import") == 0


def test_the_same_file_imported_twice_at_once_counts_once(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    import threading

    from backend.errors import Conflict
    from backend.services import receipts_service, silent_cert
    from tests.backend.conftest import make_settings
    from tests.notices.helpers import service

    pensioner(api, "011", awarded_on="2025-10-10", name="钱大妈")
    data = (HOSPITAL + f"{_id('011')},钱大妈,2026-11-20,YB-778\n").encode()
    key = receipts_service.signing_key(make_settings(db_url, tmp_path).effective_key_file.parent)
    outcomes: list[str] = []
    go = threading.Barrier(2)

    def run() -> None:
        go.wait()
        try:
            with service(db_url, tmp_path) as ctx:
                done = silent_cert.import_evidence(ctx, key, "hospital_visit", data)
            outcomes.append("repeat" if done.already_imported else "imported")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["conflict", "imported"], ["imported", "repeat"])
    assert _count(db_url, "silent_evidence") == 1
    assert _count(db_url, "certification") == 2  # the award, and one data match
