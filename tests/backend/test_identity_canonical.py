"""One person, one record: an ID number has one form (NFKC, ASCII digits and X), from the
attacker's side through the API on both databases, and the migration that reports the
duplicates stored before that rule."""

from __future__ import annotations

import io
import sys

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from backend import identity_audit, idnumber
from backend.crypto import load_keyring
from backend.db import alembic_config, engine_for
from backend.errors import InvalidInput
from tests.backend.conftest import Api, make_settings, valid_id

NUMBER = valid_id("110105", "19450801", "003")  # 64 at the scheme start: paid at once
FULL_WIDTH = NUMBER.translate(str.maketrans("0123456789X", "０１２３４５６７８９ｘ"))
ARABIC_INDIC = NUMBER[:17].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")) + NUMBER[17]
DEVANAGARI = NUMBER[:17].translate(str.maketrans("0123456789", "०१२३४५६७८९")) + NUMBER[17]


def test_full_width_digits_and_x_become_ascii() -> None:
    assert idnumber.canonical("１１０１０５１９４９１２３１００２ｘ") == "11010519491231002X"
    assert idnumber.parse(" 11010519491231002x ").number == "11010519491231002X"
    assert idnumber.parse(FULL_WIDTH).number == NUMBER


@pytest.mark.parametrize("raw", [ARABIC_INDIC, DEVANAGARI, NUMBER[:9] + " " + NUMBER[9:]])
def test_other_digits_are_refused_with_a_code(raw: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        idnumber.parse(raw)
    assert exc.value.code == "id_number_not_ascii"
    assert exc.value.errors[0]["field"] == "id_number"
    assert "only the digits 0-9 and X" in exc.value.detail


def test_names_compare_nfkc_and_trimmed_but_variants_differ() -> None:
    assert idnumber.same_name("王秀兰", " 王秀兰 ")
    assert idnumber.same_name("ＷＡＮＧ　Ｘｉｕｌａｎ", "WANG Xiulan")  # full-width letters, U+3000
    # traditional vs simplified is a different character, not a compatibility form: a person
    # decides whether 王秀蘭 on a card is the 王秀兰 of the registry
    assert not idnumber.same_name("王秀蘭", "王秀兰")


def test_the_same_number_in_other_digits_is_not_a_second_person(api: Api) -> None:
    first = api.enrol(NUMBER, name="王老汉", enrolled_on="2010-07-05")
    twin = api.post(
        "/api/v1/persons",
        "clerk",
        json={
            "id_number": FULL_WIDTH,
            "name": "王老汉",
            "village_code": "V001",
            "enrolled_on": "2010-07-05",
        },
    )
    assert twin.status_code == 409, twin.text
    for other in (ARABIC_INDIC, DEVANAGARI):
        r = api.post(
            "/api/v1/persons",
            "clerk",
            json={
                "id_number": other,
                "name": "王老汉",
                "village_code": "V001",
                "enrolled_on": "2010-07-05",
            },
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "id_number_not_ascii"
        assert r.json()["errors"][0]["field"] == "id_number"
    # the lookup finds the one person whichever form the clerk types
    found = api.get("/api/v1/persons", "clerk", params={"id_number": FULL_WIDTH})
    assert found.status_code == 200 and found.json()["person_id"] == first
    refused = api.get("/api/v1/persons", "clerk", params={"id_number": ARABIC_INDIC})
    assert refused.status_code == 422 and refused.json()["code"] == "id_number_not_ascii"
    # and the payroll pays one person once
    award = api.post(f"/api/v1/persons/{first}/award", "clerk", json={"awarded_on": "2010-07-20"})
    assert award.status_code == 201, award.text
    run = api.post("/api/v1/payroll-runs", json={"period": "2010-08", "run_on": "2010-08-20"})
    assert run.status_code == 201, run.text
    lines = api.get(f"/api/v1/payroll-runs/{run.json()['run_id']}/lines").json()["lines"]
    assert [ln["person_id"] for ln in lines] == [first]


def test_imports_use_the_one_form(api: Api) -> None:
    """Old-scheme balances and the data match read full-width numbers as the same person, and
    refuse other digits; a name with outer spaces is the same name."""
    pid = api.enrol(NUMBER, name="王秀兰", enrolled_on="2010-07-05")
    csv_text = f"id_number,name,balance_fen,as_of\n{FULL_WIDTH}, 王秀兰 ,12000,2010-06-30\n"
    r = api.post(
        "/api/v1/imports/old-scheme",
        files={"file": ("old.csv", csv_text.encode(), "text/csv")},
    )
    assert r.status_code in (200, 201), r.text
    assert r.json()["posted"] == 1
    account = api.get(f"/api/v1/persons/{pid}/account").json()
    assert account["balance_fen"] == 12000
    bad = f"id_number,name,balance_fen,as_of\n{ARABIC_INDIC},王秀兰,12000,2010-06-30\n"
    r = api.post(
        "/api/v1/imports/old-scheme", files={"file": ("old.csv", bad.encode(), "text/csv")}
    )
    assert r.status_code == 422 and "only the digits 0-9 and X" in r.text


def _insert_as_before(db_url: str, keyring, source_id: str, new_id: str, written: str) -> None:
    """A person row as the code before canonical numbers stored it: number and hash as written."""
    engine = engine_for(db_url)
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT * FROM person WHERE id = :id"), {"id": source_id})
        values = dict(row.mappings().one())
        values.update(
            id=new_id,
            id_hash=keyring.lookup_hash(written),
            id_number_enc=keyring.encrypt_text(written, new_id),
        )
        cols = ", ".join(values)
        conn.execute(
            sa.text(f"INSERT INTO person ({cols}) VALUES ({', '.join(':' + c for c in values)})"),
            values,
        )


def test_the_migration_reports_people_stored_twice(api: Api, db_url: str, tmp_path) -> None:
    keyring = load_keyring(make_settings(db_url, tmp_path).effective_key_file)
    ascii_one = api.enrol(NUMBER, name="王老汉", enrolled_on="2010-07-05")
    _insert_as_before(db_url, keyring, ascii_one, "p-fullwidth-twin", FULL_WIDTH)
    _insert_as_before(db_url, keyring, ascii_one, "p-arabic-twin", ARABIC_INDIC)
    lone_number = valid_id("110105", "19500101", "005")
    lone_written = lone_number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    _insert_as_before(db_url, keyring, ascii_one, "p-lone-fullwidth", lone_written)

    cfg = alembic_config(db_url)
    cfg.attributes["keyring"] = keyring
    before = ScriptDirectory.from_config(cfg).get_revision("0007b").down_revision
    command.stamp(cfg, str(before))
    said = io.StringIO()
    stderr, sys.stderr = sys.stderr, said
    try:
        command.upgrade(cfg, "0007b")  # runs only the identity check: the schema is at head
    finally:
        sys.stderr = stderr
        command.stamp(cfg, "heads")
    out = said.getvalue()
    assert f"DUPLICATE: persons {ascii_one} (kept)" in out
    assert "p-fullwidth-twin" in out and "p-arabic-twin" in out
    assert NUMBER not in out  # the number is personal data: only its last four are shown

    with engine_for(db_url).connect() as conn:
        cases = conn.execute(
            sa.text("SELECT person_id, reasons, status FROM review_case ORDER BY person_id")
        ).all()
        lone_hash = conn.execute(
            sa.text("SELECT id_hash FROM person WHERE id = 'p-lone-fullwidth'")
        ).scalar_one()
    assert [(c.person_id, c.status) for c in cases] == [
        ("p-arabic-twin", "open"),
        ("p-fullwidth-twin", "open"),
    ]
    assert all(identity_audit.REASON in c.reasons for c in cases)
    # the lone record is found again by its number
    assert lone_hash == keyring.lookup_hash(lone_number)
    found = api.get("/api/v1/persons", "clerk", params={"id_number": lone_number})
    assert found.status_code == 200 and found.json()["person_id"] == "p-lone-fullwidth"


def _run_migration_0007b(db_url: str, keyring) -> str:
    cfg = alembic_config(db_url)
    cfg.attributes["keyring"] = keyring
    before = ScriptDirectory.from_config(cfg).get_revision("0007b").down_revision
    command.stamp(cfg, str(before))
    said = io.StringIO()
    stderr, sys.stderr = sys.stderr, said
    try:
        command.upgrade(cfg, "0007b")
    finally:
        sys.stderr = stderr
        command.stamp(cfg, "heads")
    return said.getvalue()


def _paid(api: Api, period: str, run_on: str) -> list[str]:
    run = api.post("/api/v1/payroll-runs", json={"period": period, "run_on": run_on})
    assert run.status_code == 201, run.text
    lines = api.get(f"/api/v1/payroll-runs/{run.json()['run_id']}/lines").json()["lines"]
    return sorted(ln["person_id"] for ln in lines)


def test_a_duplicate_found_by_the_migration_is_paid_once(api: Api, db_url: str, tmp_path) -> None:
    """Two records of one person, both awarded, were both paid. The migration holds the
    duplicate: the next payroll pays one person once. The hold cannot be lifted while the other
    record lives; once the wrong record is cancelled, two people lift it and the record that stays
    is found by its number."""
    keyring = load_keyring(make_settings(db_url, tmp_path).effective_key_file)
    kept = api.enrol(NUMBER, name="王老汉", enrolled_on="2010-07-05")
    # the second record as the code before canonical numbers made it: enrolled under the same
    # number in full-width digits, hashed as written
    twin = api.enrol(valid_id("110105", "19450801", "013"), name="王老汉", enrolled_on="2010-07-05")
    with engine_for(db_url).begin() as conn:
        conn.execute(
            sa.text("UPDATE person SET id_number_enc = :enc, id_hash = :hash WHERE id = :id"),
            {
                "enc": keyring.encrypt_text(FULL_WIDTH, twin),
                "hash": keyring.lookup_hash(FULL_WIDTH),
                "id": twin,
            },
        )
    for pid in (kept, twin):
        award = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2010-07-20"})
        assert award.status_code == 201, award.text
    assert _paid(api, "2010-08", "2010-08-20") == sorted([kept, twin])  # the bug

    out = _run_migration_0007b(db_url, keyring)
    assert "payments are held" in out
    assert _paid(api, "2010-09", "2010-09-20") == [kept]

    holds = api.get(f"/api/v1/persons/{twin}/suspensions", "clerk").json()
    hold = next(h for h in holds if h["reason"] == identity_audit.REASON and h["lifted_at"] is None)
    early = api.post(
        f"/api/v1/suspensions/{hold['id']}/lift", "clerk", json={"note": "same person"}
    )
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "duplicate_not_resolved"

    cancelled = api.post(
        f"/api/v1/persons/{kept}/cancel",
        "clerk",
        json={"cancelled_on": "2010-09-25", "reason": "duplicate record"},
    )
    assert cancelled.status_code == 200, cancelled.text
    proposed = api.post(
        f"/api/v1/suspensions/{hold['id']}/lift", "clerk", json={"note": "kept one"}
    )
    assert proposed.status_code == 202, proposed.text
    request_id = proposed.json()["request_id"]
    alone = api.confirm(request_id, "clerk")
    assert alone.status_code == 403 and alone.json()["code"] == "same_person_cannot_confirm"
    assert api.confirm(request_id).status_code == 200
    found = api.get("/api/v1/persons", "clerk", params={"id_number": NUMBER})
    assert found.status_code == 200 and found.json()["person_id"] == twin
    assert _paid(api, "2010-10", "2010-10-20") == [twin]
