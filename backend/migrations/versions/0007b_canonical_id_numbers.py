"""ID numbers in their one form: report (and open review cases for) people stored twice

Revision ID: 0007b
Revises: 0006
Create Date: 2026-12-04 15:00:00.000000

Before this revision a number written in full-width or Arabic-Indic digits was stored and hashed
as written, so one person could have two records. The schema does not change; this revision
runs backend/identity_audit.py once: lone records are rewritten to the ASCII form, and every
group of records that share one canonical number is printed and gets a review case per extra
record (reason `duplicate_id_number`). It never fails the upgrade because of what it finds.

The ID numbers are encrypted, so the check needs the key: the keyring given by the caller in
`config.attributes["keyring"]` (tests), else the one the settings name (NONGBAO_KEY_FILE /
NONGBAO_MASTER_KEY). Without a key it prints that the check was skipped.
"""

from __future__ import annotations

import logging
import sys

import sqlalchemy as sa
from alembic import context, op

from backend.crypto import Keyring

revision = "0007b"
down_revision = "0007a"
branch_labels = None
depends_on = None

log = logging.getLogger("nongbao.migrations")


def _say(line: str) -> None:
    print(line, file=sys.stderr)
    log.warning(line)


def upgrade() -> None:
    from backend import identity_audit

    conn = op.get_bind()
    people = conn.execute(
        sa.text("SELECT count(*) FROM person WHERE status != 'cancelled'")
    ).scalar_one()
    if not people:
        return
    keyring = context.config.attributes.get("keyring") or _settings_keyring()
    if keyring is None:
        _say(
            "identity check SKIPPED: no key to read the stored ID numbers; "
            "duplicates written in full-width or other digits are not reported"
        )
        return
    identity_audit.audit(conn, keyring, _say)


def _settings_keyring() -> Keyring | None:
    try:
        from backend.config import Settings
        from backend.crypto import load_keyring

        settings = Settings()
        return load_keyring(settings.effective_key_file, settings.master_key, create=False)
    except Exception:
        return None


def downgrade() -> None:
    # nothing to undo: the rewritten numbers are the same numbers, and the review cases stay
    pass
