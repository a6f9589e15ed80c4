"""Return files (回盘) through the real API and a real bank simulator (HTTP): each line paid or
returned, returns reversed into returned:payments and re-issued once when the account is fixed;
the same file twice changes nothing; a file whose totals do not match is refused whole."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from backend.banks import simulator
from backend.banks.layout import load_banks
from tests.backend.conftest import Api, valid_id
from tests.backend.test_benefits_more import OLD, _pensioner
from tests.backend.test_benefits_worked import run

OTHER = valid_id("110105", "19440101", "023")
CARD = valid_id("110105", "19430101", "027")  # no bank account: paid to the card's account


def bank_answer(data: bytes, failures: dict[str, str], bank: str = "rcb") -> bytes:
    """The return file from the simulator, over HTTP."""
    srv = simulator.serve_in_thread(load_banks(), dict(failures))
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/banks/{bank}/disbursements"
        req = urllib.request.Request(url, data=data, method="POST")
        try:
            resp = urllib.request.urlopen(req)
        except urllib.error.HTTPError as exc:
            raise AssertionError(exc.read().decode()) from None
        with resp as r:
            assert r.status == 200
            return bytes(r.read())
    finally:
        srv.shutdown()
        srv.server_close()


def send(api: Api, run_id: str, bank: str = "") -> bytes:
    api.approve_run(run_id)
    r = api.get(f"/api/v1/payroll-runs/{run_id}/bank-file{'?bank=' + bank if bank else ''}")
    assert r.status_code == 200, r.text
    return r.content


def post_returns(api: Api, run_id: str, data: bytes) -> Any:
    return api.post(
        f"/api/v1/payroll-runs/{run_id}/returns", files={"file": ("ret.txt", data, "text/plain")}
    )


def ledger_ok(api: Api) -> dict[str, Any]:
    check = api.get("/api/v1/ledger/check", "auditor").json()
    assert check["ok"] is True, check
    return check


def recon(api: Api, run_id: str) -> dict[str, Any]:
    r = api.get(f"/api/v1/payroll-runs/{run_id}/reconciliation", "auditor")
    assert r.status_code == 200, r.text
    return r.json()


def test_returns_reverse_flag_and_reissue_once(api: Api) -> None:
    a = _pensioner(api, OLD, "赵大爷", bank="6217 0000 1111")
    b = _pensioner(api, OTHER, "钱奶奶", bank="6217 0000 2222")
    c = _pensioner(api, CARD, "孙爷爷")
    aug = run(api, "2010-08")["run_id"]
    sent = send(api, aug)
    assert recon(api, aug)["outstanding_fen"] == 16500
    back = bank_answer(sent, {"6217 0000 1111": "account_closed", CARD: "ssc_account_inactive"})
    r = post_returns(api, aug, back)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("paid", "returned", "paid_fen", "returned_fen")} == {
        "paid": 1,
        "returned": 2,
        "paid_fen": 5500,
        "returned_fen": 11000,
    }
    check = ledger_ok(api)
    assert (check["returned_fen"], check["reissued_fen"]) == (11000, 0)
    again = post_returns(api, aug, back)  # the same file again: nothing changes
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert ledger_ok(api)["transfers"] == check["transfers"]
    # each returned person is told once (an SMS in the outbox), the replay tells nobody again
    for pid, told in ((a, 1), (b, 0), (c, 1)):
        sent = api.get(f"/api/v1/persons/{pid}/notices", "clerk").json()
        kinds = [n["kind"] for n in (sent["notices"] if isinstance(sent, dict) else sent)]
        assert kinds.count("payment_returned") == told, (pid, sent)
    rec = recon(api, aug)
    assert (rec["sent_fen"], rec["paid_fen"], rec["returned_fen"], rec["reissued_fen"]) == (
        16500,
        5500,
        11000,
        0,
    )
    assert rec["outstanding_fen"] == 11000
    by_person = {ln["person_id"]: ln for ln in rec["lines"]}
    assert (by_person[a]["status"], by_person[a]["reason"]) == ("returned", "account_closed")
    assert by_person[a]["bank_reason"] == "账户已销户"
    assert by_person[b]["status"] == "paid"
    assert api.get(f"/api/v1/persons/{c}/payee", "clerk").json()["ssc_state"] == "inactive"
    lines = api.get(f"/api/v1/payroll-runs/{aug}/lines").json()["lines"]
    assert sorted(ln["status"] for ln in lines) == ["paid", "returned", "returned"]

    # nothing is re-issued while the accounts are not fixed
    nothing = api.post("/api/v1/payments/reissues", json={})
    assert nothing.status_code == 409 and nothing.json()["code"] == "nothing_to_reissue"
    # fix both: a new bank account (four eyes) and the card's account active again
    change = {"bank_account": "6228 0000 3333", "effective_on": "2026-11-27", "reason": "closed"}
    proposed = api.post(f"/api/v1/persons/{a}/bank-account", "clerk", json=change).json()
    assert api.confirm(proposed["request_id"], "clerk2").status_code == 200
    ok = api.put(
        f"/api/v1/persons/{c}/ssc-account",
        "clerk",
        json={"state": "active", "reason": "card centre: activated"},
    )
    assert ok.status_code == 200 and ok.json()["flag"] is None, ok.text

    # re-issued in the next payroll's bank file, once
    sep = run(api, "2010-09")["run_id"]
    sent_sep = send(api, sep)
    header, details, trailer = load_banks().get(None).read(sent_sep, returns=False)
    assert trailer["total_fen"] == str(16500 + 11000) and trailer["persons"] == "5"
    assert sum(1 for d in details if d["account"] == "6228 0000 3333") == 1
    assert ledger_ok(api)["reissued_fen"] == 11000
    assert recon(api, aug)["reissued_fen"] == 11000
    assert post_returns(api, sep, bank_answer(sent_sep, {})).json()["paid"] == 3
    rec = recon(api, aug)
    assert (rec["paid_fen"], rec["outstanding_fen"]) == (16500, 0)
    assert {ln["person_id"]: ln["status"] for ln in rec["lines"]}[a] == "reissued_paid"
    oct_ = run(api, "2010-10")["run_id"]
    _, oct_details, oct_trailer = load_banks().get(None).read(send(api, oct_), returns=False)
    assert oct_trailer["total_fen"] == "16500"  # not re-issued a second time
    again = api.post("/api/v1/payments/reissues", json={})
    assert again.status_code == 409
    check = ledger_ok(api)
    assert (check["returned_fen"], check["reissued_fen"]) == (11000, 11000)
    # the fund report counts them by value date (the day of the return and of the re-issue)
    fund = api.get("/api/v1/reports/fund/2026", "auditor").json()["summary"]
    assert (fund["expenditure"]["returned"], fund["expenditure"]["reissued"]) == (-11000, 11000)
    assert fund["reconciled"] is True
    _ = (header, oct_details)


def test_a_file_that_does_not_add_up_is_refused_whole(api: Api) -> None:
    _pensioner(api, OLD, "赵大爷", bank="6217 0000 1111")
    _pensioner(api, OTHER, "钱奶奶", bank="6217 0000 2222")
    aug = run(api, "2010-08")["run_id"]
    sent = send(api, aug, "ccb_csv")
    back = bank_answer(sent, {"6217 0000 1111": "holder_deceased"}, "ccb_csv").decode()
    rows = back.splitlines()
    before = ledger_ok(api)
    bad_total = "\n".join([*rows[:-1], rows[-1].replace("11000", "11001")]) + "\n"
    missing_line = "\n".join([rows[0], rows[1], rows[-1]]) + "\n"
    wrong_amount = "\n".join([rows[0], rows[1].replace("5500", "5400"), *rows[2:]]) + "\n"
    unknown_code = back.replace(",F02,", ",X99,")
    for data, code in (
        (bad_total, "return_totals_mismatch"),
        (missing_line, "return_totals_mismatch"),
        (wrong_amount, "return_totals_mismatch"),
        (unknown_code, "unknown_result_code"),
        ("garbage", "bank_file_malformed"),
        (back.replace(",F02,", ",F02\x00,"), "unknown_result_code"),
        (back.replace("5500", "５５００", 1), "bank_file_malformed"),
    ):
        r = post_returns(api, aug, data.encode())
        assert r.status_code == 422, (code, r.text)
        assert r.json()["code"] == code and r.headers["content-type"] == "application/problem+json"
    assert ledger_ok(api)["transfers"] == before["transfers"]
    assert recon(api, aug)["paid_fen"] == 0
    assert post_returns(api, aug, back.encode()).json()["returned"] == 1
    # a later file that contradicts the first is refused
    contradicting = back.replace(",F02,", ",S,").replace("户主已死亡", "成功")
    r = post_returns(api, aug, contradicting.encode())
    assert r.status_code == 409 and r.json()["code"] == "return_contradicts"
    # a clerk may not import
    assert (
        api.post(
            f"/api/v1/payroll-runs/{aug}/returns",
            "clerk",
            files={"file": ("r.csv", back.encode(), "text/csv")},
        ).status_code
        == 403
    )
