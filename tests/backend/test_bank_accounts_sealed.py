"""Pension bank accounts are sealed at rest (docs/privacy.md): the award, the payroll lines that
copy it, a bank-account change request and a refund request, and the change history hold no
account digits in clear, on both databases; the bank file still carries the full account;
`nongbao keys rotate` re-seals them; migration 0009p seals a database's clear accounts.

Each account below is written with spaces, as a clerk types it; its digits are looked for in
every column of every table, with and without the spaces."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag

from backend.config import get_settings
from backend.crypto import Keyring, load_keyring
from backend.db import alembic_config, engine_for, upgrade
from tests.backend.conftest import Api, make_settings, valid_id
from tests.backend.test_benefits_worked import run
from tests.backend.test_cli import nongbao
from tests.live import server_env

FIRST = "6217 4821 9375 0642"  # given with the award
SECOND = "6228 7310 5589 2046"  # a change two people confirm
REFUND = "6217 9051 3378 4402"  # a cancelled member's refund
ACCOUNTS = (FIRST, SECOND, REFUND)


def _clear_forms(account: str) -> list[bytes]:
    return [account.encode(), account.replace(" ", "").encode(), account[-9:].encode()]


def _dump(db_url: str) -> dict[str, bytes]:
    """Every table's every value, as bytes, per table."""
    engine = engine_for(db_url)
    out: dict[str, bytes] = {}
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()
            out[table] = b"\x00".join(
                bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                for row in rows
                for v in row
            )
    return out


def _in_clear(db_url: str, accounts: tuple[str, ...] = ACCOUNTS) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for table, data in _dump(db_url).items():
        for account in accounts:
            if any(form in data for form in _clear_forms(account)):
                found.setdefault(table, []).append(account)
    return found


def _bank_rows(api: Api, run_id: str) -> list[list[str]]:
    api.approve_run(run_id)
    r = api.get(f"/api/v1/payroll-runs/{run_id}/bank-file?bank=ccb_csv")
    assert r.status_code == 200, r.text
    return list(csv.reader(io.StringIO(r.text)))[1:-1]


def _county(api: Api) -> dict[str, str]:
    """A pensioner paid into FIRST, changed (four eyes) to SECOND and paid again; a cancelled
    member refunded into REFUND (four eyes)."""
    pid = api.enrol(valid_id("110105", "19450801", "021"), name="赵大爷", enrolled_on="2010-07-05")
    award = {"awarded_on": "2010-07-20", "bank_account": FIRST}
    assert api.post(f"/api/v1/persons/{pid}/award", "clerk", json=award).status_code == 201
    aug = run(api, "2010-08")["run_id"]
    [row] = _bank_rows(api, aug)
    assert row[1] == FIRST  # the bank's file: the account whole

    change = {"bank_account": SECOND, "effective_on": "2026-11-27", "reason": "new card"}
    proposed = api.post(f"/api/v1/persons/{pid}/bank-account", "clerk", json=change)
    assert proposed.status_code == 202, proposed.text
    assert (proposed.json()["payload"]["old"], proposed.json()["payload"]["new"]) == (
        "****0642",
        "****2046",
    )
    confirmed = api.confirm(proposed.json()["request_id"], "clerk2")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["result"]["applied"] is True
    assert confirmed.json()["result"]["new"] == "****2046"
    sep = run(api, "2010-09")["run_id"]
    [row] = _bank_rows(api, sep)
    assert row[1] == SECOND

    member = api.enrol(
        valid_id("110105", "19700301", "044"), name="周女士", enrolled_on="2010-07-05"
    )
    assert api.pay(member, 2010, 10000, "2010-08-01").status_code == 201
    cancel = {"cancelled_on": "2010-12-01", "reason": "moved to the urban employee scheme"}
    assert api.post(f"/api/v1/persons/{member}/cancel", "clerk", json=cancel).status_code == 200
    refund = api.post(
        f"/api/v1/persons/{member}/refund",
        "clerk",
        json={"bank_account": REFUND, "bank": "ccb_csv"},
    )
    assert refund.status_code == 202, refund.text
    assert refund.json()["payload"]["bank_account"] == "****4402"
    done = api.confirm(refund.json()["request_id"], "clerk2")
    assert done.status_code == 200, done.text
    batch = done.json()["result"]["disbursement_id"]
    refund_file = api.get(f"/api/v1/disbursements/{batch}/bank-file").text
    assert REFUND in refund_file  # the refund's bank file: the account whole
    return {"person": pid, "member": member, "aug": aug, "sep": sep}


def test_bank_accounts_are_sealed_at_rest_and_whole_only_in_the_bank_file(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    ids = _county(api)
    assert _in_clear(db_url) == {}

    ring = load_keyring(make_settings(db_url, tmp_path).effective_key_file, create=False)
    with engine_for(db_url).connect() as conn:
        award = conn.execute(
            sa.text("SELECT bank_account_enc FROM award WHERE person_id = :p"),
            {"p": ids["person"]},
        ).scalar_one()
        lines: dict[str, bytes] = dict(
            conn.execute(
                sa.text("SELECT run_id, bank_account_enc FROM payroll_line WHERE person_id = :p"),
                {"p": ids["person"]},
            ).all()
        )
        change = conn.execute(
            sa.text(
                "SELECT account_enc, payload FROM four_eyes_request WHERE kind = 'bank_account'"
            )
        ).one()
    assert ring.decrypt_text(award, ids["person"]) == SECOND
    # the payroll copied the award's ciphertext as it stood, set-based: the same bytes
    assert bytes(lines[ids["sep"]]) == bytes(award) == bytes(change.account_enc)
    assert ring.decrypt_text(lines[ids["aug"]], ids["person"]) == FIRST
    with pytest.raises(InvalidTag):  # sealed for its person: not movable to another row
        ring.decrypt_text(award, ids["member"])

    # every output staff see shows the account masked
    listing = api.get("/api/v1/approvals?status=all", "auditor").json()
    assert {
        r["kind"]: r["payload"].get("new", r["payload"].get("bank_account")) for r in listing
    } == {
        "bank_account": "****2046",
        "cancellation_refund": "****4402",
    }
    history = api.get(f"/api/v1/persons/{ids['person']}/bank-account/history", "auditor").json()
    assert [(h["payload"]["old"], h["payload"]["new"]) for h in history] == [
        ("****0642", "****2046")
    ]
    changes = api.get(f"/api/v1/persons/{ids['person']}/history", "auditor").json()
    assert ("bank_account", "****0642", "****2046") in {
        (c["field"], c["old_value"], c["new_value"]) for c in changes
    }
    statement = api.get(f"/api/v1/reports/monthly-statement/{ids['sep']}?format=csv", "clerk")
    assert statement.status_code == 200 and "2046" in statement.text
    assert not any(form.decode() in statement.text for form in _clear_forms(SECOND))


def _values_by_key(db_url: str) -> dict[str, set[str | None]]:
    with engine_for(db_url).connect() as conn:
        return {
            table: {
                Keyring.sealed_key_id(bytes(v))
                for (v,) in conn.execute(sa.text(f"SELECT {column} FROM {table}"))
                if v is not None
            }
            for table, column in (
                ("award", "bank_account_enc"),
                ("payroll_line", "bank_account_enc"),
                ("four_eyes_request", "account_enc"),
            )
        }


def test_keys_rotate_reseals_the_bank_accounts(api: Api, db_url: str, tmp_path: Path) -> None:
    ids = _county(api)
    assert _values_by_key(db_url) == {
        "award": {"k1"},
        "payroll_line": {"k1"},
        "four_eyes_request": {"k1"},
    }
    r = nongbao(["keys", "rotate", "--json"], server_env(db_url, tmp_path))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["key_id"] == "k2"
    # the award; its two lines (two accounts, one run each); the change and the refund request
    assert {k: out["resealed"][k] for k in ("award", "payroll_line", "four_eyes_request")} == {
        "award": 1,
        "payroll_line": 2,
        "four_eyes_request": 2,
    }
    assert out["keys"]["k1"]["values"] == 0
    assert _values_by_key(db_url) == {
        "award": {"k2"},
        "payroll_line": {"k2"},
        "four_eyes_request": {"k2"},
    }
    ring = load_keyring(make_settings(db_url, tmp_path).effective_key_file, create=False)
    with engine_for(db_url).connect() as conn:
        opened = {
            run_id: ring.decrypt_text(blob, ids["person"])
            for run_id, blob in conn.execute(
                sa.text("SELECT run_id, bank_account_enc FROM payroll_line WHERE person_id = :p"),
                {"p": ids["person"]},
            )
        }
    assert opened == {ids["aug"]: FIRST, ids["sep"]: SECOND}
    assert _in_clear(db_url) == {}
    again = nongbao(["keys", "rotate", "--resume", "--json"], server_env(db_url, tmp_path))
    assert again.returncode == 0 and sum(json.loads(again.stdout)["resealed"].values()) == 0


def test_the_migration_seals_clear_accounts_and_the_downgrade_opens_them(
    api: Api, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of before 0009p (the downgrade writes the accounts back in clear), with a
    request and a history row of that time written in clear, upgraded again."""
    from alembic import command

    ids = _county(api)
    settings = make_settings(db_url, tmp_path)
    monkeypatch.setenv("NONGBAO_KEY_FILE", str(settings.effective_key_file))
    monkeypatch.delenv("NONGBAO_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    try:
        command.downgrade(alembic_config(db_url), "0009p-1")  # the revision before 0009p
        with engine_for(db_url).begin() as conn:
            assert (
                conn.execute(
                    sa.text("SELECT bank_account FROM award WHERE person_id = :p"),
                    {"p": ids["person"]},
                ).scalar_one()
                == SECOND
            )
            assert dict(
                conn.execute(
                    sa.text("SELECT run_id, bank_account FROM payroll_line WHERE person_id = :p"),
                    {"p": ids["person"]},
                ).all()
            ) == {ids["aug"]: FIRST, ids["sep"]: SECOND}
            # as before 0009p: the payload, its answer and the history in clear
            clear = {"old": FIRST, "new": SECOND, "effective_on": "2026-11-27", "reason": "x"}
            conn.execute(
                sa.text(
                    "UPDATE four_eyes_request SET payload = :p, result = :r WHERE kind = 'bank_account'"
                ),
                {
                    "p": json.dumps(clear),
                    "r": json.dumps({"person_id": ids["person"], **clear, "applied": True}),
                },
            )
            conn.execute(
                sa.text(
                    "UPDATE person_change SET old_value = :o, new_value = :n"
                    " WHERE field = 'bank_account'"
                ),
                {"o": FIRST, "n": SECOND},
            )
        assert set(_in_clear(db_url)) >= {"award", "payroll_line", "four_eyes_request"}

        upgrade(db_url)
        assert _in_clear(db_url) == {}
        ring = load_keyring(settings.effective_key_file, create=False)
        with engine_for(db_url).connect() as conn:
            award = conn.execute(
                sa.text("SELECT bank_account_enc FROM award WHERE person_id = :p"),
                {"p": ids["person"]},
            ).scalar_one()
            lines: dict[str, bytes] = dict(
                conn.execute(
                    sa.text(
                        "SELECT run_id, bank_account_enc FROM payroll_line WHERE person_id = :p"
                    ),
                    {"p": ids["person"]},
                ).all()
            )
            change = conn.execute(
                sa.text(
                    "SELECT account_enc, payload, result FROM four_eyes_request"
                    " WHERE kind = 'bank_account'"
                )
            ).one()
            history = conn.execute(
                sa.text(
                    "SELECT old_value, new_value FROM person_change WHERE field = 'bank_account'"
                )
            ).one()
        assert ring.decrypt_text(award, ids["person"]) == SECOND
        assert {k: ring.decrypt_text(v, ids["person"]) for k, v in lines.items()} == {
            ids["aug"]: FIRST,
            ids["sep"]: SECOND,
        }
        assert ring.decrypt_text(change.account_enc, ids["person"]) == SECOND
        payload, result = json.loads(change.payload), json.loads(change.result)
        assert (payload["old"], payload["new"]) == ("****0642", "****2046")
        assert (result["old"], result["new"]) == ("****0642", "****2046")
        assert tuple(history) == ("****0642", "****2046")
    finally:
        get_settings.cache_clear()
    # the upgraded database still pays into the right account
    [row] = _bank_rows(api, run(api, "2010-10")["run_id"])
    assert row[1] == SECOND
