"""Transfer out to another county (转移接续): the account closes with a PDF and a JSON document;
the receiving county opens the balances from it with `nongbao import transfer-in`, once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backend.conftest import Api, bootstrap, valid_id
from tests.backend.test_bank_returns import ledger_ok
from tests.backend.test_cli import nongbao
from tests.live import server_env

MEMBER = valid_id("110105", "19850101", "031")
COUNTY = "示范县 (default county)"  # both test counties run the default policy


def test_transfer_out_then_in_opens_the_same_balances(api: Api, tmp_path: Path) -> None:
    pid = api.enrol(MEMBER, name="周女士", enrolled_on="2010-07-05")
    assert api.pay(pid, 2010, 10000, "2010-08-01").status_code == 201
    pensioner_refused = api.post(
        "/api/v1/persons/nobody/transfer-out", "clerk", json={"to_county": COUNTY, "reason": "x"}
    )
    assert pensioner_refused.status_code == 404
    r = api.post(
        f"/api/v1/persons/{pid}/transfer-out",
        "clerk",
        json={"to_county": COUNTY, "reason": "moved"},
    )
    assert r.status_code == 202, r.text  # four eyes: nothing moves until a second person confirms
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "enrolled"
    assert api.confirm(r.json()["request_id"], "clerk").status_code == 403
    confirmed = api.confirm(r.json()["request_id"], "clerk2")
    assert confirmed.status_code == 200, confirmed.text
    out = confirmed.json()["result"]
    assert out["total_fen"] == 13000  # 10000 paid + 3000 county subsidy
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "cancelled"
    account = api.get(f"/api/v1/persons/{pid}/account", "clerk").json()
    assert account["balance_fen"] == 0  # nothing stranded, nothing to earn interest on
    again = api.post(
        f"/api/v1/persons/{pid}/transfer-out", "clerk", json={"to_county": COUNTY, "reason": "x"}
    )
    assert again.status_code == 422
    ledger_ok(api)
    doc = api.get(f"/api/v1/transfer-documents/{out['document_id']}").json()
    assert doc["person"]["id_number"] == MEMBER and doc["sha256"] == out["sha256"]
    assert doc["buckets_fen"] == {
        "personal": 10000,
        "collective": 0,
        "other": 0,
        "government": 3000,
    }
    pdf = api.get(f"/api/v1/transfer-documents/{out['document_id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert api.get(f"/api/v1/transfer-documents/{out['document_id']}", "clerk").status_code == 403

    # the receiving county: its own database and keys
    there = tmp_path / "there"
    url = f"sqlite:///{there / 'county.sqlite3'}"
    there.mkdir()
    from backend.db import upgrade

    upgrade(url)
    bootstrap(url, there)
    env = server_env(url, there)
    path = tmp_path / "transfer.json"
    pub = tmp_path / "sender.pem"  # the sending county's public key, as it publishes it
    pub.write_text(api.get("/api/v1/receipts/public-key", None).text)
    key = ["--public-key", str(pub)]
    tampered = {**doc, "buckets_fen": {**doc["buckets_fen"], "personal": 20000}, "total_fen": 23000}
    path.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    bad = nongbao(["import", "transfer-in", str(path), "--village", "V001", *key], env)
    assert bad.returncode != 0 and "checksum" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1  # one line, no traceback
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    unknown = nongbao(["import", "transfer-in", str(path), "--village", "V001"], env)
    assert unknown.returncode != 0 and "does not know" in unknown.stderr  # no key given, none known
    ok = nongbao(["import", "transfer-in", str(path), "--village", "V001", "--json", *key], env)
    assert ok.returncode == 0, ok.stderr
    got = json.loads(ok.stdout)
    assert got["total_fen"] == 13000 and got["buckets_fen"]["government"] == 3000
    twice = nongbao(["import", "transfer-in", str(path), "--village", "V001", *key], env)
    assert twice.returncode != 0 and "already_imported" in twice.stderr
    check = nongbao(["ledger", "check", "--json"], env)
    assert check.returncode == 0 and json.loads(check.stdout)["ok"] is True
