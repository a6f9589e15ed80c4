"""Old-scheme balances from CSV: all rows or none, idempotent, clear errors."""

from __future__ import annotations

from tests.backend.conftest import Api, valid_id

A = valid_id("110105", "19620310", "001")
B = valid_id("110105", "19580701", "002")
WRONG_CHECK = A[:-1] + ("2" if A[-1] == "1" else "1")


def _upload(api: Api, text: str | bytes, name: str = "old.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return api.post("/api/v1/imports/old-scheme", files={"file": (name, data, "text/csv")})


def test_import_posts_opening_balances_once(api: Api) -> None:
    a = api.enrol(A, name="张大山")
    b = api.enrol(B, name="李桂兰")
    csv_text = f"id_number,name,balance_fen,as_of\n{A},张大山,123456,2010-06-30\n{B},李桂兰,7890,2010-06-30\n"
    first = _upload(api, csv_text)
    assert first.status_code == 200, first.text
    assert first.json()["posted"] == 2 and first.json()["total_fen"] == 131346
    again = _upload(api, csv_text)
    assert again.json()["posted"] == 0 and again.json()["already_posted"] == 2
    assert (
        api.get(f"/api/v1/persons/{a}/account", "clerk").json()["buckets"]["personal_fen"] == 123456
    )
    entries = api.get(f"/api/v1/persons/{b}/account", "clerk").json()["entries"]
    assert entries == [
        {
            "on": "2010-06-30",
            "kind": "old_scheme",
            "bucket": "personal",
            "amount_fen": 7890,
            "operation": "old_scheme_opening",
            "posting_id": entries[0]["posting_id"],
        }
    ]


def test_gb18030_file_is_read(api: Api) -> None:
    api.enrol(A, name="张大山")
    r = _upload(
        api, f"id_number,name,balance_fen,as_of\n{A},张大山,100,2010-06-30\n".encode("gb18030")
    )
    assert r.status_code == 200, r.text


def test_one_bad_row_imports_nothing(api: Api) -> None:
    a = api.enrol(A, name="张大山")
    api.enrol(B, name="李桂兰")
    csv_text = (
        "id_number,name,balance_fen,as_of\n"
        f"{A},张大山,100,2010-06-30\n"
        f"{B},李小兰,100,2010-06-30\n"  # wrong name
        f"{WRONG_CHECK},张大山,100,2010-06-30\n"
        f"{A},张大山,12.5,2010-06-30\n"
    )
    r = _upload(api, csv_text)
    assert r.status_code == 422
    messages = [e["message"] for e in r.json()["errors"]]
    assert any("does not match" in m for m in messages)
    assert any("whole number" in m for m in messages)
    assert any("check character" in m for m in messages)
    assert api.get(f"/api/v1/persons/{a}/account", "clerk").json()["balance_fen"] == 0


def test_wrong_columns_and_bad_encoding(api: Api) -> None:
    r = _upload(api, "id,name,amount\n")
    assert r.status_code == 422 and "columns must be exactly" in r.json()["detail"]
    r = _upload(api, b"\xff\xfe\x00garbage\x81\x30")
    assert r.status_code == 422
