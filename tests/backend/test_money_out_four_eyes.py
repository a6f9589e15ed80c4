"""Money out, second part (docs/payments.md), on SQLite and PostgreSQL: heirs' payouts and
on-demand re-issues take two people; a returned refund is re-issued to an account a second
person confirmed; money the bank returned for a deceased holder goes to the estate (heirs, or
the settlement's recovery) once the death is confirmed; a transfer document is signed with the
county's key and a tampered, unsigned or foreign-signed one is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend import receipts
from backend.models import RecoveryOrder
from backend.services import bank_returns, transfers
from tests.backend.conftest import Api, make_settings, valid_id
from tests.backend.test_bank_returns import bank_answer, ledger_ok, post_returns, recon, send
from tests.backend.test_benefits_more import _pensioner
from tests.backend.test_benefits_worked import run
from tests.backend.test_money_branches import engine_of, service
from tests.backend.test_payments_worked import disb_returns

F = valid_id("110105", "19450801", "021")
G = valid_id("110105", "19440101", "023")
H = valid_id("110105", "19430101", "027")
E = valid_id("110105", "19850101", "031")
HEIR = valid_id("110105", "19700101", "033")
COUNTY = "示范县 (default county)"


def transfer_codes(api: Api) -> dict[str, int]:
    with engine_of(api).connect() as c:
        rows = c.execute(
            sa.text("SELECT code, SUM(amount_fen) FROM ledger_transfer GROUP BY code")
        ).all()
    return {str(code): int(fen) for code, fen in rows}


def problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text


# --- 1. heirs' payouts and re-issues: four eyes ---------------------------------------------------


def test_a_reissue_is_proposed_and_confirmed_once_by_a_second_admin(api: Api) -> None:
    f = _pensioner(api, F, "赵大爷", bank="6217 0000 1111")
    aug = run(api, "2010-08")["run_id"]
    sent = send(api, aug)
    assert post_returns(api, aug, bank_answer(sent, {F: "account_closed"})).status_code == 200
    change = {"bank_account": "6228 0000 3333", "effective_on": "2026-11-27", "reason": "closed"}
    proposed = api.post(f"/api/v1/persons/{f}/bank-account", "clerk", json=change).json()
    assert api.confirm(proposed["request_id"], "clerk2").status_code == 200

    by_clerk = api.post("/api/v1/payments/reissues", "clerk", json={})
    assert by_clerk.status_code == 403  # only an admin proposes money out
    r = api.post("/api/v1/payments/reissues", json={})
    assert r.status_code == 202, r.text
    req = r.json()
    assert (req["kind"], req["status"], req["payload"]["total_fen"]) == ("reissue", "pending", 5500)
    assert ledger_ok(api)["reissued_fen"] == 0  # a proposal moves nothing
    twin = api.post("/api/v1/payments/reissues", "admin2", json={})
    problem(twin, 409, "already_proposed")
    problem(api.confirm(req["request_id"], "admin"), 403, "same_person_cannot_confirm")
    problem(api.confirm(req["request_id"], "clerk2"), 403, "forbidden")
    assert ledger_ok(api)["reissued_fen"] == 0
    done = api.confirm(req["request_id"], "admin2")
    assert done.status_code == 200, done.text
    result = done.json()["result"]
    assert (result["kind"], result["total_fen"], result["count"]) == ("reissue", 5500, 1)
    transfers_after = ledger_ok(api)["transfers"]
    again = api.confirm(req["request_id"], "admin2")  # the confirmation replayed
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["result"] == result
    check = ledger_ok(api)
    assert (check["transfers"], check["reissued_fen"]) == (transfers_after, 5500)
    problem(api.post("/api/v1/payments/reissues", json={}), 409, "nothing_to_reissue")
    re_file = api.get(f"/api/v1/disbursements/{result['disbursement_id']}/bank-file").content
    assert "6228 0000 3333" in re_file.decode("gb18030")
    assert recon(api, aug)["reissued_fen"] == 5500


def test_a_reissue_proposed_then_carried_by_a_payroll_is_not_made_twice(api: Api) -> None:
    _pensioner(api, F, "赵大爷", bank="6217 0000 1111")
    c = _pensioner(api, H, "孙爷爷")  # the card's account
    aug = run(api, "2010-08")["run_id"]
    sent = send(api, aug)
    post_returns(api, aug, bank_answer(sent, {H: "ssc_account_inactive"}))
    active = {"state": "active", "reason": "card centre: activated"}
    assert api.put(f"/api/v1/persons/{c}/ssc-account", "clerk", json=active).status_code == 200
    req = api.post("/api/v1/payments/reissues", json={"person_id": c}).json()
    sep = run(api, "2010-09")["run_id"]
    _, _, trailer = bank_returns_layout().read(send(api, sep), returns=False)
    assert trailer["total_fen"] == str(2 * 5500 + 5500)  # the payroll file carried the re-issue
    problem(api.confirm(req["request_id"], "admin2"), 409, "nothing_to_reissue")
    assert ledger_ok(api)["reissued_fen"] == 5500


def bank_returns_layout() -> Any:
    from backend.banks.layout import load_banks

    return load_banks().get("rcb")


# --- 2. a returned refund, re-issued to a corrected account (four eyes) ---------------------------


def test_a_returned_refund_goes_to_the_account_a_second_person_confirmed(api: Api) -> None:
    e = api.enrol(E, name="周女士", enrolled_on="2010-07-05")
    assert api.pay(e, 2010, 10000, "2010-08-01").status_code == 201
    change = {"bank_account": "6228 0000 9999", "effective_on": "2026-11-27", "reason": "x"}
    cancel = {"cancelled_on": "2010-12-01", "reason": "moved to the urban employee scheme"}
    assert api.post(f"/api/v1/persons/{e}/cancel", "clerk", json=cancel).status_code == 200
    refused = api.post(f"/api/v1/persons/{e}/bank-account", "clerk", json=change)
    assert refused.status_code == 422  # no award and no returned refund: no account to change
    proposed = api.post(
        f"/api/v1/persons/{e}/refund", "clerk", json={"bank_account": "6217 0000 5555"}
    ).json()
    refund = api.confirm(proposed["request_id"], "clerk2").json()["result"]
    refund_file = api.get(f"/api/v1/disbursements/{refund['disbursement_id']}/bank-file").content
    back = disb_returns(
        api,
        refund["disbursement_id"],
        bank_answer(refund_file, {"6217 0000 5555": "account_closed"}),
    )
    assert back["returned_fen"] == 10000
    assert ledger_ok(api)["returned_fen"] == 10000
    problem(api.post("/api/v1/payments/reissues", json={"person_id": e}), 409, "nothing_to_reissue")

    # the corrected account: proposed by one clerk, confirmed by another
    r = api.post(f"/api/v1/persons/{e}/bank-account", "clerk", json=change)
    assert r.status_code == 202, r.text
    req = r.json()
    assert req["payload"]["target"] == "refund" and req["payload"]["new"] == "****9999"
    assert "6228 0000 9999" not in json.dumps(req)  # sealed, masked in the request
    problem(api.confirm(req["request_id"], "clerk"), 403, "same_person_cannot_confirm")
    problem(api.post("/api/v1/payments/reissues", json={"person_id": e}), 409, "nothing_to_reissue")
    assert api.confirm(req["request_id"], "clerk2").status_code == 200
    history = api.get(f"/api/v1/persons/{e}/bank-account/history", "clerk").json()
    assert [h["status"] for h in history] == ["confirmed"] and history[0]["applied"] is True

    reissue = api.post("/api/v1/payments/reissues", json={"person_id": e})
    assert reissue.status_code == 202, reissue.text
    result = api.confirm(reissue.json()["request_id"], "admin2").json()["result"]
    assert result["total_fen"] == 10000
    re_file = api.get(f"/api/v1/disbursements/{result['disbursement_id']}/bank-file").content
    assert "6228 0000 9999" in re_file.decode("gb18030")  # not the card's account
    assert (
        disb_returns(api, result["disbursement_id"], bank_answer(re_file, {}))["paid_fen"] == 10000
    )
    check = ledger_ok(api)
    assert (check["returned_fen"], check["reissued_fen"]) == (10000, 10000)


# --- 3. returned for a deceased holder: to the estate ---------------------------------------------


def test_money_returned_for_a_deceased_holder_goes_to_the_estate(api: Api) -> None:
    f = _pensioner(api, F, "赵大爷", bank="6217 0000 1111")
    g = _pensioner(api, G, "钱奶奶", bank="6217 0000 2222")
    h = _pensioner(api, H, "孙爷爷", bank="6217 0000 3333")
    aug = run(api, "2010-08")["run_id"]
    sent = send(api, aug)
    # G's death is confirmed before the bank's answer comes back
    sg = api.end(g, {"date_of_death": "2010-08-25"}).json()
    assert sg["overpaid_fen"] == 0
    back = bank_answer(sent, {F: "holder_deceased", G: "holder_deceased"})
    assert post_returns(api, aug, back).json()["returned_fen"] == 11000
    check = ledger_ok(api)  # G's at once to the heirs; F's waits: no death confirmed yet
    assert (check["returned_fen"], check["reissued_fen"], check["to_estate_fen"]) == (
        11000,
        0,
        5500,
    )
    assert api.get(f"/api/v1/persons/{g}/heirs", "clerk").json()["owed_fen"] == (
        sg["paid_to_heirs_fen"] + sg["owed_months_paid_to_heirs_fen"] + 5500
    )
    problem(api.post("/api/v1/payments/reissues", json={"person_id": f}), 409, "nothing_to_reissue")
    problem(api.post("/api/v1/payments/reissues", json={"person_id": g}), 409, "nothing_to_reissue")

    # F died on 20 August: August was his; on confirmation the returned 5500 goes to his heirs
    sf = api.end(f, {"date_of_death": "2010-08-20"}).json()
    assert sf["overpaid_fen"] == 0
    check = ledger_ok(api)
    assert (check["returned_fen"], check["to_estate_fen"]) == (11000, 11000)
    assert transfer_codes(api)["returned_to_heirs"] == 11000
    assert api.get(f"/api/v1/persons/{f}/heirs", "clerk").json()["owed_fen"] == (
        sf["paid_to_heirs_fen"] + sf["owed_months_paid_to_heirs_fen"] + 5500
    )
    rec = recon(api, aug)
    assert (rec["paid_fen"], rec["returned_fen"], rec["to_estate_fen"], rec["outstanding_fen"]) == (
        5500,
        11000,
        11000,
        0,
    )
    lines = {ln["person_id"]: ln for ln in rec["lines"]}
    assert (lines[f]["status"], lines[f]["to_estate_fen"], lines[f]["reason"]) == (
        "to_estate",
        5500,
        "holder_deceased",
    )
    # made once: the same return file again, and the service called again, move nothing
    before = ledger_ok(api)["transfers"]
    assert post_returns(api, aug, back).json()["replayed"] is True
    with service(api) as ctx:
        assert bank_returns.settle_to_estate(ctx, f) == 0
    assert ledger_ok(api)["transfers"] == before
    with engine_of(api).connect() as c:  # one audit event per part moved, in its transaction
        moved = c.execute(
            sa.text("SELECT subject FROM audit_event WHERE action = 'bank_return.to_estate'")
        ).all()
    assert sorted(r[0] for r in moved) == sorted([f, g])

    # H: September paid after he died (31 August); the bank returns it: an overpayment that
    # never arrived, so it repays the settlement's recovery order instead of going to heirs
    sep = run(api, "2010-09")["run_id"]
    sent_sep = send(api, sep)
    post_returns(api, sep, bank_answer(sent_sep, {H: "holder_deceased"}))
    sh = api.end(h, {"date_of_death": "2010-08-31"}).json()
    assert sh["overpaid_fen"] == 5500 and sh["recovery_due_fen"] == 5500  # no account to offset
    check = ledger_ok(api)
    assert (check["returned_fen"], check["to_estate_fen"]) == (16500, 16500)
    assert transfer_codes(api)["returned_recovered"] == 5500
    with service(api) as ctx:
        order = ctx.session.get(RecoveryOrder, sh["recovery_order_id"])
        assert order is not None and (order.repaid_fen, order.status) == (5500, "settled")
    fund = api.get("/api/v1/reports/fund/2026", "auditor").json()["summary"]
    assert fund["reconciled"] is True
    assert fund["expenditure"]["returned_to_heirs"] == 11000


# --- 4. the transfer document: signed, and checked ------------------------------------------------


def resign(
    doc: dict[str, Any], key: Ed25519PrivateKey, key_id: str | None = None
) -> dict[str, Any]:
    body = {k: v for k, v in doc.items() if k not in ("sha256", "signature")}
    body["signing_key_id"] = key_id or receipts.public_key_id(key.public_key())
    return transfers.sign(key, body)


def test_a_transfer_document_is_signed_and_a_forgery_refused(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    pid = api.enrol(E, name="周女士", enrolled_on="2010-07-05")
    assert api.pay(pid, 2010, 10000, "2010-08-01").status_code == 201
    req = api.post(
        f"/api/v1/persons/{pid}/transfer-out",
        "clerk",
        json={"to_county": COUNTY, "reason": "moved"},
    ).json()
    out = api.confirm(req["request_id"], "clerk2").json()["result"]
    doc = api.get(f"/api/v1/transfer-documents/{out['document_id']}").json()
    pem = api.get("/api/v1/receipts/public-key", None).text
    county_key = receipts.load_public_key(pem)
    assert doc["signing_key_id"] == receipts.public_key_id(county_key)
    signature = base64.urlsafe_b64decode(doc["signature"] + "==")
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    county_key.verify(
        signature,
        json.dumps(unsigned, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(),
    )
    assert api.get(f"/api/v1/transfer-documents/{out['document_id']}/pdf").status_code == 200

    def importing(body: dict[str, Any], public_key: str | None = None) -> Any:
        payload: dict[str, Any] = {"document": body, "village_code": "V001"}
        if public_key is not None:
            payload["public_key"] = public_key
        return api.post("/api/v1/transfer-documents", json=payload)

    before = ledger_ok(api)["transfers"]
    more = {**doc["buckets_fen"], "personal": 20000}
    tampered = {**doc, "buckets_fen": more, "total_fen": 23000}
    problem(importing(tampered, pem), 422, "transfer_checksum")
    # the attacker recomputes the checksum: the signature no longer matches
    problem(
        importing(transfers.seal(tampered) | {"signature": doc["signature"]}, pem),
        422,
        "transfer_signature",
    )
    problem(
        importing({k: v for k, v in doc.items() if k != "signature"}, pem),
        422,
        "transfer_signature",
    )
    unsigned_doc = transfers.seal(
        {k: v for k, v in doc.items() if k not in ("signature", "signing_key_id")}
    )
    problem(importing(unsigned_doc, pem), 422, "transfer_signature")
    other = Ed25519PrivateKey.generate()
    other_pem = receipts.public_pem(other.public_key())
    forged = resign(tampered, other)
    problem(importing(forged, pem), 422, "transfer_signature")  # not the key given
    problem(importing(forged), 422, "transfer_signature")  # a key this county does not know
    problem(importing(resign(tampered, other, doc["signing_key_id"])), 422, "transfer_signature")
    problem(
        importing(resign(tampered, other, doc["signing_key_id"]), pem), 422, "transfer_signature"
    )
    problem(importing(doc, "not a key"), 422, "transfer_signature")
    assert ledger_ok(api)["transfers"] == before  # nothing opened
    # the genuine document passes every check (here it was issued by this county's database,
    # so it is already known: the last refusal is `already_imported`)
    problem(importing(doc, pem), 409, "already_imported")
    problem(importing(doc), 409, "already_imported")  # the county's own key is known
    # a county whose key is kept in transfer_keys/ is known: its document opens the balances
    keys = make_settings(db_url, tmp_path).effective_key_file.parent / transfers.TRUSTED_KEYS_DIR
    keys.mkdir(exist_ok=True)
    (keys / "other-county.pem").write_text(other_pem)
    newcomer = {**doc, "from_county": "邻县", "person": {**doc["person"], "id_number": HEIR}}
    opened = importing(resign(newcomer, other))
    assert opened.status_code == 201, opened.text
    assert (opened.json()["total_fen"], opened.json()["from_county"]) == (13000, "邻县")
    assert opened.json()["signing_key_id"] == receipts.public_key_id(other.public_key())
    problem(importing(resign(newcomer, other)), 409, "already_imported")
    assert ledger_ok(api)["transfers"] == before + 2  # personal and government buckets
