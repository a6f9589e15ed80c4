"""Stored ID numbers that are not in their one form, and people stored twice because of it.

Before ID numbers were canonicalised (backend/idnumber.canonical), a number written in full-width
digits (`１１０１０５…`) or Arabic-Indic digits was stored and hashed as written, so the same person
could be enrolled twice. This module finds such records; migration 0007b runs it once and
  - rewrites a lone record to the canonical form (new ciphertext and lookup hash), so that the
    person is found again by their number;
  - keeps the first record of a group of people that share one canonical number (the one
    already in ASCII, else the oldest; brought to the canonical form), prints the group, and for
    each record beside it opens a review case (reason `duplicate_id_number`) and a payment hold
    (a suspension with the same reason), so that the payroll pays one person once from then on.
    A reviewer cancels the wrong record (and recovers any double payment from before); the hold
    is lifted, by two people, only once no other live record has the number
    (services/suspensions.check_liftable).
It never fails the upgrade: a record that cannot be read is reported and skipped.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from backend import clock, months
from backend.crypto import Keyring
from backend.rules.suspension import ARREARS_BY_REASON

REASON = "duplicate_id_number"


def loose_canonical(text: str) -> str:
    """A stored number as it would have been read in ASCII: NFKC, then any decimal digit of any
    script as its ASCII digit. Only for finding legacy duplicates; new input with such digits is
    refused (idnumber.canonical)."""
    text = unicodedata.normalize("NFKC", text).strip().upper()
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


@dataclass
class Stored:
    person_id: str
    number: str  # decrypted, as stored
    created_at: object  # ordering only


@dataclass
class Findings:
    checked: int = 0
    rewritten: list[str] = field(default_factory=list)  # person ids brought to canonical form
    duplicates: list[list[str]] = field(default_factory=list)  # kept first, then the others
    unreadable: list[str] = field(default_factory=list)


def group(rows: Iterable[Stored]) -> dict[str, list[Stored]]:
    """Records by canonical number, the canonical (ASCII) and oldest first in each group."""
    groups: dict[str, list[Stored]] = {}
    for row in rows:
        groups.setdefault(loose_canonical(row.number), []).append(row)
    for canonical, members in groups.items():
        members.sort(key=lambda r: (r.number != canonical, str(r.created_at), r.person_id))
    return groups


def audit(conn: sa.Connection, keyring: Keyring, say: Callable[[str], None]) -> Findings:
    """Find and record (see the module doc); `say` prints a line for the operator."""
    found = Findings()
    rows: list[Stored] = []
    for pid, enc, created in conn.execute(
        sa.text(
            "SELECT id, id_number_enc, created_at FROM person WHERE status != 'cancelled' ORDER BY id"
        )
    ):
        found.checked += 1
        try:
            rows.append(Stored(pid, keyring.decrypt_text(bytes(enc), pid), created))
        except Exception:  # a record we cannot read is reported, never fatal
            found.unreadable.append(pid)
            say(f"identity check: person {pid}: the ID number cannot be decrypted; skipped")
    for canonical, members in group(rows).items():
        if len(members) == 1:
            if members[0].number != canonical:
                _rewrite(conn, keyring, members[0].person_id, canonical)
                found.rewritten.append(members[0].person_id)
            continue
        kept, others = members[0], members[1:]
        if kept.number != canonical:  # so that the kept record is the one found by its number
            _rewrite(conn, keyring, kept.person_id, canonical)
            found.rewritten.append(kept.person_id)
        found.duplicates.append([kept.person_id] + [o.person_id for o in others])
        say(
            f"identity check: DUPLICATE: persons {kept.person_id} (kept), "
            f"{', '.join(o.person_id for o in others)} share one ID number "
            f"(ending {canonical[-4:]}); each duplicate's payments are held and a review case opened"
        )
        for other in others:
            _open_case(conn, other.person_id, kept.person_id)
            _hold(conn, other.person_id, kept.person_id)
    say(
        f"identity check: {found.checked} people checked, {len(found.rewritten)} numbers "
        f"rewritten to ASCII, {len(found.duplicates)} duplicate group(s), "
        f"{len(found.unreadable)} unreadable"
    )
    return found


def _rewrite(conn: sa.Connection, keyring: Keyring, person_id: str, number: str) -> None:
    conn.execute(
        sa.text("UPDATE person SET id_number_enc = :enc, id_hash = :hash WHERE id = :id"),
        {
            "enc": keyring.encrypt_text(number, person_id),
            "hash": keyring.lookup_hash(number),
            "id": person_id,
        },
    )


def _open_case(conn: sa.Connection, person_id: str, kept_id: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO review_case (id, person_id, reasons, status, first_note, created_at) "
            "VALUES (:id, :person_id, :reasons, 'open', :note, :created_at)"
        ),
        {
            "id": "case-" + uuid.uuid4().hex[:24],
            "person_id": person_id,
            "reasons": json.dumps([REASON]),
            "note": (
                f"same ID number as person {kept_id} (found when ID numbers were made canonical):"
                " one person, two records; cancel the wrong record and recover any double payment"
            ),
            "created_at": clock.now(),
        },
    )


def _hold(conn: sa.Connection, person_id: str, kept_id: str) -> None:
    """No payroll pays a person with an open suspension, so the one person is paid once."""
    conn.execute(
        sa.text(
            "INSERT INTO suspension (id, person_id, reason, from_month, arrears, note, created_by, created_at) "
            "VALUES (:id, :person_id, :reason, :from_month, :arrears, :note, 'system:migration-0007b', :now)"
        ),
        {
            "id": "sus-" + uuid.uuid4().hex[:24],
            "person_id": person_id,
            "reason": REASON,
            "from_month": months.of(clock.today()),
            # if this record turns out to be the right one (the other is cancelled), its held
            # months are paid back; while held, the other record is the one paid
            "arrears": ARREARS_BY_REASON[REASON],
            "note": f"same ID number as person {kept_id}: held until the wrong record is cancelled",
            "now": clock.now(),
        },
    )
    conn.execute(
        sa.text("UPDATE person SET status = 'suspended' WHERE id = :id AND status = 'receiving'"),
        {"id": person_id},
    )
