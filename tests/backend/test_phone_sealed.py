"""Phone numbers are sealed at rest like ID numbers: the API shows them, the file does not."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.config import get_settings
from backend.crypto import load_keyring
from backend.db import engine_for, upgrade
from tests.backend.conftest import Api, make_settings, valid_id

PHONE = "13912345678"


def test_a_phone_is_stored_sealed_and_shown_to_staff(api: Api, db_url: str, tmp_path: Path) -> None:
    pid = api.enrol(valid_id("110105", "19500101", "021"), phone=PHONE)
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["phone"] == PHONE
    with engine_for(db_url).connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM person WHERE id = :i"), {"i": pid}).one()
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    assert PHONE.encode() not in stored and "phone" not in row._mapping  # no clear column
    ring = load_keyring(make_settings(db_url, tmp_path).effective_key_file)
    assert ring.decrypt_text(row._mapping["phone_enc"], pid) == PHONE

    r = api.patch(
        f"/api/v1/persons/{pid}", "clerk", json={"phone": "13800000000", "reason": "new number"}
    )
    assert r.status_code == 200 and r.json()["phone"] == "13800000000"
    history = api.get(f"/api/v1/persons/{pid}/history", "auditor").json()
    assert ("phone", "139****5678", "138****0000") in {
        (c["field"], c["old_value"], c["new_value"]) for c in history
    }


def test_the_migration_seals_stored_phones_and_the_downgrade_opens_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0006")
    with engine_for(url).begin() as conn:
        conn.execute(
            sa.text("INSERT INTO village (code, name, township) VALUES ('V1', '东村', '镇')")
        )
        conn.execute(
            sa.text(
                "INSERT INTO person (id, id_hash, id_number_enc, name, birth_date, gender,"
                " village_code, phone, student, urban_employee_pension, severely_disabled,"
                " homebound, enrolled_on, status, created_at, updated_at) VALUES"
                " ('p1', 'h', x'00', '张三', :b, 'male', 'V1', :phone, 0, 0, 0, 0, :b,"
                " 'enrolled', :b, :b)"
            ),
            {"b": date(1950, 1, 1), "phone": PHONE},
        )
    key_file = tmp_path / "keys" / "master.key"
    ring = load_keyring(key_file)
    monkeypatch.setenv("NONGBAO_KEY_FILE", str(key_file))
    get_settings.cache_clear()
    try:
        upgrade(url, "0007c")
        with engine_for(url).connect() as conn:
            sealed = conn.execute(sa.text("SELECT phone_enc FROM person")).scalar_one()
        assert PHONE.encode() not in sealed and ring.decrypt_text(sealed, "p1") == PHONE

        from alembic import command

        from backend.db import alembic_config

        command.downgrade(alembic_config(url), "0006")
        with engine_for(url).connect() as conn:
            assert conn.execute(sa.text("SELECT phone FROM person")).scalar_one() == PHONE
    finally:
        get_settings.cache_clear()
