"""The worked example of docs/payments.md, fen by fen, on SQLite and PostgreSQL: a payroll, a
return file with failures (from the bank simulator's file drop), re-issue once the accounts are
fixed, a payout to heirs with a return and its re-issue, and a cancellation refund. The ledger
check is clean after every step, from the API and from `nongbao ledger check`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.banks.layout import load_banks
from tests.backend.conftest import Api, valid_id
from tests.backend.test_bank_returns import bank_answer, ledger_ok, post_returns, recon, send
from tests.backend.test_benefits_more import _pensioner
from tests.backend.test_benefits_worked import run
from tests.backend.test_cli import nongbao
from tests.live import server_env

A = valid_id("110105", "19450801", "021")
B = valid_id("110105", "19440101", "023")
C = valid_id("110105", "19430101", "027")
D = valid_id("110105", "19420101", "029")
E = valid_id("110105", "19850101", "031")
HEIR1 = valid_id("110105", "19700101", "033")
HEIR2 = valid_id("110105", "19720101", "035")
RCB = load_banks().get("rcb")


def money_step(api: Api, returned: int, reissued: int) -> None:
    check = ledger_ok(api)
    assert (check["returned_fen"], check["reissued_fen"]) == (returned, reissued)


def disb_returns(api: Api, disbursement_id: str, data: bytes) -> dict[str, Any]:
    r = api.post(
        f"/api/v1/disbursements/{disbursement_id}/returns",
        files={"file": ("ret.txt", data, "text/plain")},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_payments_worked_example(api: Api, db_url: str, tmp_path: Path) -> None:
    env = server_env(db_url, tmp_path)
    a = _pensioner(api, A, "赵大爷", bank="6217 0000 1111")
    _pensioner(api, B, "钱奶奶", bank="6217 0000 2222")
    c = _pensioner(api, C, "孙爷爷")  # paid to the social security card's account
    d = _pensioner(api, D, "李奶奶", bank="6217 0000 4444")

    # 1. August: 4 x 5500 sent; the bank returns A (closed) and C (card account inactive)
    aug = run(api, "2010-08")
    assert (aug["paid"], aug["total_fen"]) == (4, 22000)
    sent = send(api, aug["run_id"])
    (tmp_path / "aug.txt").write_bytes(sent)
    sim = nongbao(
        [
            "bank",
            "simulate",
            "--in",
            str(tmp_path / "aug.txt"),
            "--out",
            str(tmp_path / "ret.txt"),
            "--fail",
            "6217 0000 1111=account_closed",
            "--fail",
            f"{C}=ssc_account_inactive",
        ],
        env,
    )
    assert sim.returncode == 0, sim.stderr
    imported = nongbao(["bank", "returns", aug["run_id"], str(tmp_path / "ret.txt"), "--json"], env)
    assert imported.returncode == 0, imported.stderr
    got = json.loads(imported.stdout)
    assert (got["paid"], got["paid_fen"], got["returned"], got["returned_fen"]) == (
        2,
        11000,
        2,
        11000,
    )
    money_step(api, 11000, 0)
    cli_check = nongbao(["ledger", "check"], env)
    assert (
        cli_check.returncode == 0
        and "returned by the bank 11000 fen, re-issued 0 fen" in cli_check.stdout
    )
    replay = post_returns(api, aug["run_id"], (tmp_path / "ret.txt").read_bytes())
    assert replay.json()["replayed"] is True
    money_step(api, 11000, 0)

    # 2. D dies on 5 October, before September is paid: September and October go to the heirs
    s = api.end(d, {"date_of_death": "2010-10-05"}).json()
    assert (s["overpaid_fen"], s["owed_months_paid_to_heirs_fen"]) == (0, 11000)
    money_step(api, 11000, 0)

    # 3. the accounts are fixed: A's new account (four eyes), C's card account active again
    change = {"bank_account": "6228 0000 3333", "effective_on": "2026-11-27", "reason": "closed"}
    proposed = api.post(f"/api/v1/persons/{a}/bank-account", "clerk", json=change).json()
    assert api.confirm(proposed["request_id"], "clerk2").status_code == 200
    active = {"state": "active", "reason": "card centre: activated"}
    assert api.put(f"/api/v1/persons/{c}/ssc-account", "clerk", json=active).status_code == 200

    # 4. September: 3 x 5500 plus both re-issues (5500 each), riding in the same file
    sep = run(api, "2010-09")
    assert (sep["paid"], sep["total_fen"]) == (3, 16500)
    sent_sep = send(api, sep["run_id"])
    _, details, trailer = RCB.read(sent_sep, returns=False)
    assert (trailer["count"], trailer["total_fen"], trailer["persons"]) == ("3", "27500", "5")
    assert sorted(int(x["amount_fen"]) for x in details) == [5500, 11000, 11000]
    money_step(api, 11000, 11000)
    assert post_returns(api, sep["run_id"], bank_answer(sent_sep, {})).json()["paid_fen"] == 27500
    rec = recon(api, aug["run_id"])
    assert {
        k: rec[k]
        for k in ("sent_fen", "paid_fen", "returned_fen", "reissued_fen", "outstanding_fen")
    } == {
        "sent_fen": 22000,
        "paid_fen": 22000,
        "returned_fen": 11000,
        "reissued_fen": 11000,
        "outstanding_fen": 0,
    }
    rec_sep = recon(api, sep["run_id"])
    assert (rec_sep["sent_fen"], rec_sep["paid_fen"], rec_sep["outstanding_fen"]) == (
        16500,
        16500,
        0,
    )

    # 5. heirs: 60% and 40% of 11000; the second heir's bank says the name is wrong
    heirs = {
        "heirs": [
            {
                "name": "李大",
                "id_number": HEIR1,
                "share_bp": 6000,
                "bank_account": "6217 0000 6666",
            },
            {
                "name": "李二",
                "id_number": HEIR2,
                "share_bp": 4000,
                "bank_account": "6217 0000 7777",
            },
        ]
    }
    assert api.post(f"/api/v1/persons/{d}/heirs", "clerk", json=heirs).status_code == 201
    early = api.post(f"/api/v1/persons/{d}/heirs/payouts", json={})
    assert early.status_code == 409 and early.json()["code"] == "heirs_not_confirmed"
    same = api.post(f"/api/v1/persons/{d}/heirs/confirm", "clerk")
    assert same.status_code == 403 and same.json()["code"] == "same_person_cannot_confirm"
    assert api.post(f"/api/v1/persons/{d}/heirs/confirm", "clerk2").status_code == 200
    listed = api.get(f"/api/v1/persons/{d}/heirs", "clerk").json()
    assert listed["owed_fen"] == 11000 and listed["heirs"][0]["bank_account"] == "****6666"
    assert HEIR1 not in json.dumps(listed)  # masked
    # the payout is proposed by one admin and released by a second (four eyes)
    proposed = api.post(f"/api/v1/persons/{d}/heirs/payouts", json={})
    assert proposed.status_code == 202, proposed.text
    assert proposed.json()["payload"]["owed_fen"] == 11000
    money_step(api, 11000, 11000)  # nothing moved yet
    assert api.get(f"/api/v1/persons/{d}/heirs", "clerk").json()["owed_fen"] == 11000
    self_ok = api.confirm(proposed.json()["request_id"], "admin")
    assert self_ok.status_code == 403 and self_ok.json()["code"] == "same_person_cannot_confirm"
    assert api.confirm(proposed.json()["request_id"], "clerk2").status_code == 403  # an admin's
    payout = api.confirm(proposed.json()["request_id"], "admin2")
    assert payout.status_code == 200, payout.text
    batch = payout.json()["result"]
    assert (batch["count"], batch["total_fen"]) == (2, 11000)
    replay = api.confirm(proposed.json()["request_id"], "admin2")  # a replayed confirmation
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    assert replay.json()["result"]["disbursement_id"] == batch["disbursement_id"]
    assert api.get(f"/api/v1/persons/{d}/heirs", "clerk").json()["owed_fen"] == 0
    money_step(api, 11000, 11000)
    heir_file = api.get(f"/api/v1/disbursements/{batch['disbursement_id']}/bank-file").content
    _, heir_lines, _ = RCB.read(heir_file, returns=False)
    assert sorted((x["name"], x["amount_fen"]) for x in heir_lines) == [
        ("李二", "4400"),
        ("李大", "6600"),
    ]
    back = disb_returns(
        api, batch["disbursement_id"], bank_answer(heir_file, {HEIR2: "name_mismatch"})
    )
    assert (back["paid_fen"], back["returned_fen"]) == (6600, 4400)
    money_step(api, 15400, 11000)
    assert api.get(f"/api/v1/persons/{d}/heirs", "clerk").json()["owed_fen"] == 0
    heir2 = next(h for h in listed["heirs"] if h["share_bp"] == 4000)["heir_id"]
    fix = {"bank_account": "6217 0000 8888", "reason": "account in her own name"}
    assert api.post(f"/api/v1/heirs/{heir2}/bank-account", "clerk", json=fix).status_code == 202
    assert api.post(f"/api/v1/heirs/{heir2}/bank-account/confirm", "clerk").status_code == 403
    assert api.post(f"/api/v1/heirs/{heir2}/bank-account/confirm", "clerk2").status_code == 200
    proposed = api.post("/api/v1/payments/reissues", json={"person_id": d})
    assert proposed.status_code == 202 and proposed.json()["payload"]["total_fen"] == 4400
    money_step(api, 15400, 11000)  # proposed: nothing re-issued yet
    assert api.confirm(proposed.json()["request_id"], "admin").status_code == 403
    again = api.confirm(proposed.json()["request_id"], "admin2")
    assert again.status_code == 200 and again.json()["result"]["total_fen"] == 4400, again.text
    reissued = again.json()["result"]
    re_file = api.get(f"/api/v1/disbursements/{reissued['disbursement_id']}/bank-file").content
    assert "6217 0000 8888" in re_file.decode("gb18030")
    assert (
        disb_returns(api, reissued["disbursement_id"], bank_answer(re_file, {}))["paid_fen"] == 4400
    )
    money_step(api, 15400, 15400)
    twice = api.confirm(proposed.json()["request_id"], "admin2")  # replay: no second file
    assert twice.json()["result"]["disbursement_id"] == reissued["disbursement_id"]
    money_step(api, 15400, 15400)
    assert api.post("/api/v1/payments/reissues", json={"person_id": d}).status_code == 409  # once

    # 6. a cancelled member: 10000 paid in, 3000 county subsidy; 10000 to her, 3000 to the pool
    e = api.enrol(E, name="周女士", enrolled_on="2010-07-05")
    assert api.pay(e, 2010, 10000, "2010-08-01").status_code == 201
    cancel = {"cancelled_on": "2010-12-01", "reason": "moved to the urban employee scheme"}
    assert api.post(f"/api/v1/persons/{e}/cancel", "clerk", json=cancel).status_code == 200
    proposed = api.post(
        f"/api/v1/persons/{e}/refund",
        "clerk",
        json={"bank_account": "6217 0000 5555", "bank": "ccb_csv"},
    )
    assert proposed.status_code == 202, proposed.text  # four eyes: nothing moves yet
    assert api.get(f"/api/v1/persons/{e}/account", "clerk").json()["balance_fen"] == 13000
    assert api.confirm(proposed.json()["request_id"], "clerk").status_code == 403
    confirmed = api.confirm(proposed.json()["request_id"], "clerk2")
    assert confirmed.status_code == 200, confirmed.text
    refund = confirmed.json()["result"]
    assert (refund["to_member_fen"], refund["to_fund_fen"]) == (10000, 3000)
    assert api.get(f"/api/v1/persons/{e}/account", "clerk").json()["balance_fen"] == 0
    refund_file = api.get(f"/api/v1/disbursements/{refund['disbursement_id']}/bank-file").content
    assert refund_file.decode().splitlines()[-1].startswith("TOTAL,1,,,10000,1,")
    ret = disb_returns(api, refund["disbursement_id"], bank_answer(refund_file, {}, "ccb_csv"))
    assert ret["paid_fen"] == 10000
    twice = api.post(
        f"/api/v1/persons/{e}/refund", "clerk", json={"bank_account": "6217 0000 5555"}
    )
    assert twice.status_code == 409 and twice.json()["code"] == "nothing_to_refund"
    money_step(api, 15400, 15400)
    final = nongbao(["ledger", "check", "--json"], env)
    assert final.returncode == 0, final.stdout + final.stderr
    assert json.loads(final.stdout)["ok"] is True
