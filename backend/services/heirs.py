"""Heirs of a deceased person and the payout of `payable:heirs` to them by bank file.

One clerk records the heirs (name, ID number, share in basis points, bank account); a second
person confirms them (four eyes) before any money goes out. A payout splits what the person's
settlement left in `payable:heirs` by the shares (the remainder of the division to the first
heir, so the fen add up) and writes a bank file whose lines are returned and re-issued like a
pension's. An heir's account fixed after a return is a change a second person confirms too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col, select

from backend import idnumber, ledger
from backend.answers_payments import HeirOut
from backend.errors import Conflict, NotFound, RuleRefused, field_error
from backend.idnumber import mask_account
from backend.ledger import Transfer
from backend.models import Death, Disbursement, Heir, Person
from backend.services import audit, bank_files
from backend.services.context import Ctx
from backend.services.maker_checker import require_second_person

FULL_SHARE = 10_000
BANK_ACCOUNT = re.compile(r"^[0-9 -]{8,40}$")


@dataclass(frozen=True)
class HeirIn:
    name: str
    id_number: str
    share_bp: int
    bank_account: str


def record(ctx: Ctx, person_id: str, heirs: list[HeirIn]) -> list[Heir]:
    person = _deceased(ctx, person_id)
    if _of(ctx, person.id):
        raise Conflict("the heirs of this person are recorded already", code="heirs_recorded")
    if not heirs or sum(h.share_bp for h in heirs) != FULL_SHARE:
        raise field_error("heirs", "the shares (basis points) must add up to 10000")
    rows = []
    for n, h in enumerate(heirs):
        if h.share_bp <= 0:
            raise field_error(f"heirs.{n}.share_bp", "a share is positive")
        if not BANK_ACCOUNT.match(h.bank_account):
            raise field_error(f"heirs.{n}.bank_account", "8 to 40 digits, spaces or dashes")
        number = idnumber.parse(h.id_number).number
        heir_id = ledger.new_id("heir")[:40]
        row = Heir(
            id=heir_id,
            person_id=person.id,
            name=" ".join(h.name.split())[:60],
            id_number_enc=ctx.keyring.encrypt_text(number, heir_id),
            id_number_hash=ctx.keyring.lookup_hash(number),
            share_bp=h.share_bp,
            bank_account_enc=ctx.keyring.encrypt_text(h.bank_account, heir_id),
            created_by=ctx.actor.label,
        )
        ctx.session.add(row)
        rows.append(row)
    ctx.session.flush()
    audit.record(ctx, "heirs.record", person.id, after=[out(ctx, r).model_dump() for r in rows])
    return rows


def confirm(ctx: Ctx, person_id: str) -> list[Heir]:
    rows = _of(ctx, person_id)
    if not rows:
        raise NotFound("no heirs recorded for this person")
    if all(r.confirmed_by for r in rows):
        raise Conflict("the heirs are confirmed already", code="not_pending")
    require_second_person(rows[0].created_by, ctx.actor, "these heirs")
    for r in rows:
        r.confirmed_by = ctx.actor.label
        ctx.session.add(r)
    ctx.session.flush()
    audit.record(ctx, "heirs.confirm", person_id, after=[out(ctx, r).model_dump() for r in rows])
    return rows


def _deceased(ctx: Ctx, person_id: str) -> Person:
    person = ctx.session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person {person_id}")
    death = ctx.session.exec(
        select(Death).where(Death.person_id == person_id, col(Death.reversed_at).is_(None))
    ).first()
    if death is None or death.source == "other_pension":
        raise RuleRefused("heirs are recorded for a person whose death is confirmed")
    return person


def _of(ctx: Ctx, person_id: str) -> list[Heir]:
    return list(
        ctx.session.exec(
            select(Heir)
            .where(Heir.person_id == person_id)
            .order_by(col(Heir.created_at), col(Heir.id))
        ).all()
    )


def listing(ctx: Ctx, person_id: str) -> list[HeirOut]:
    if ctx.session.get(Person, person_id) is None:
        raise NotFound(f"no person {person_id}")
    return [out(ctx, r) for r in _of(ctx, person_id)]


def out(ctx: Ctx, row: Heir) -> HeirOut:
    """An heir as staff see it: ID number and account masked."""
    account = ctx.keyring.decrypt_text(row.bank_account_enc, row.id)
    return HeirOut(
        heir_id=row.id,
        name=row.name,
        id_number=idnumber.mask(ctx.keyring.decrypt_text(row.id_number_enc, row.id)),
        share_bp=row.share_bp,
        bank_account=mask_account(account),
        flag=row.flag,
        confirmed_by=row.confirmed_by,
        pending_account=row.pending_account_enc is not None,
    )


# --- paying out ----------------------------------------------------------------------------------


def owed(ctx: Ctx, person_id: str) -> int:
    """What `payable:heirs` holds for this person: credited by its settlement, less payouts."""
    return int(
        ctx.session.execute(
            sa.text(
                "SELECT COALESCE(SUM(CASE WHEN c.code = 'payable:heirs' THEN t.amount_fen ELSE 0 END), 0) "
                "- COALESCE(SUM(CASE WHEN d.code = 'payable:heirs' THEN t.amount_fen ELSE 0 END), 0) "
                "FROM ledger_transfer t JOIN ledger_posting p ON p.id = t.posting_id "
                "JOIN ledger_account d ON d.id = t.debit_account_id JOIN ledger_account c ON c.id = t.credit_account_id "
                "WHERE p.person_id = :pid AND (c.code = 'payable:heirs' OR d.code = 'payable:heirs')"
            ),
            {"pid": person_id},
        ).scalar_one()
    )


def split(amount_fen: int, shares: list[int]) -> list[int]:
    """Each share's fen, rounded down; the remainder to the first, so they add up exactly."""
    parts = [amount_fen * s // FULL_SHARE for s in shares]
    parts[0] += amount_fen - sum(parts)
    return parts


def check_payout(ctx: Ctx, person_id: str, bank_code: str | None) -> int:
    """What a payout must satisfy before it is proposed (four_eyes.propose_heirs_payout): the
    heirs recorded and confirmed, something owed, a known bank. Returns what is owed."""
    rows = _of(ctx, person_id)
    if not rows:
        if ctx.session.get(Person, person_id) is None:
            raise NotFound(f"no person {person_id}")
        raise RuleRefused("record the heirs first (POST /persons/{id}/heirs)")
    if not all(r.confirmed_by for r in rows):
        raise Conflict(
            "a second person has not confirmed the heirs yet", code="heirs_not_confirmed"
        )
    amount = owed(ctx, person_id)
    if amount <= 0:
        raise Conflict("nothing is owed to this person's heirs", code="nothing_owed")
    bank_files.banks().get(bank_code)  # an unknown bank is refused before anything is proposed
    return amount


def payout(
    ctx: Ctx, person_id: str, bank_code: str | None = None, *, amount_fen: int | None = None
) -> Disbursement:
    """Pay the heirs (a second person confirmed the proposal: four_eyes): `amount_fen`, the
    amount proposed, or all that is owed; never more than is owed."""
    owed_now = check_payout(ctx, person_id, bank_code)
    amount = owed_now if amount_fen is None else amount_fen
    if amount <= 0 or amount > owed_now:
        raise Conflict(
            f"{owed_now} fen is owed to the heirs now, not the {amount} fen proposed: "
            "propose the payout again",
            code="nothing_owed",
        )
    rows = _of(ctx, person_id)
    layout = bank_files.banks().get(bank_code)
    n = len(
        ctx.session.exec(
            select(Disbursement.id).where(
                Disbursement.natural_key.startswith(f"heirs:{person_id}:")
            )
        ).all()
    )
    drafts = []
    for heir, fen in zip(rows, split(amount, [r.share_bp for r in rows]), strict=True):
        if fen <= 0:
            continue
        account, id_number, name = payee_details(ctx, heir.id)
        drafts.append(
            bank_files.Draft(
                person_id=person_id,
                account=account,
                id_number=id_number,
                name=name,
                amount_fen=fen,
                source="heirs",
                source_ref=f"{heir.id}:{n}",
                payout_account="payout:heirs",
                payee=heir.id,
                transfers=[Transfer("payable:heirs", "payout:heirs", fen, "heirs_payout")],
            )
        )
    key = f"heirs:{person_id}:{n}"
    return bank_files.freeze(ctx, key, "heirs", layout.code, ctx.today.isoformat()[:7], drafts)


# --- returns and account changes -------------------------------------------------------------------


def flag(ctx: Ctx, heir_id: str, reason: str) -> None:
    heir = ctx.session.get(Heir, heir_id)
    if heir is None:
        return
    heir.flag = reason
    ctx.session.add(heir)
    audit.record(ctx, "heir.flag", heir.person_id, after={"heir_id": heir_id, "flag": reason})


def propose_account(ctx: Ctx, heir_id: str, bank_account: str, reason: str) -> Heir:
    heir = _heir(ctx, heir_id)
    if not BANK_ACCOUNT.match(bank_account):
        raise field_error("bank_account", "8 to 40 digits, spaces or dashes")
    if not reason.strip():
        raise field_error("reason", "say why the account changes")
    if heir.pending_account_enc is not None:
        raise Conflict("a change of this heir's account already waits", code="already_proposed")
    heir.pending_account_enc = ctx.keyring.encrypt_text(bank_account, heir.id)
    heir.pending_by, heir.pending_reason = ctx.actor.label, reason.strip()[:200]
    ctx.session.add(heir)
    audit.record(
        ctx,
        "heir.bank_account.propose",
        heir.person_id,
        after={
            "heir_id": heir.id,
            "new": mask_account(bank_account),
            "reason": heir.pending_reason,
        },
    )
    return heir


def confirm_account(ctx: Ctx, heir_id: str) -> Heir:
    heir = _heir(ctx, heir_id)
    if heir.pending_account_enc is None:
        raise Conflict("no change of this heir's account waits", code="not_pending")
    require_second_person(heir.pending_by, ctx.actor, "this account change")
    old = mask_account(ctx.keyring.decrypt_text(heir.bank_account_enc, heir.id))
    heir.bank_account_enc = heir.pending_account_enc
    new = mask_account(ctx.keyring.decrypt_text(heir.bank_account_enc, heir.id))
    after = {
        "heir_id": heir.id,
        "old": old,
        "new": new,
        "reason": heir.pending_reason,
        "proposed_by": heir.pending_by,
        "flag_cleared": heir.flag,
    }
    heir.pending_account_enc, heir.pending_by, heir.pending_reason, heir.flag = (
        None,
        None,
        None,
        None,
    )
    ctx.session.add(heir)
    audit.record(ctx, "heir.bank_account.confirm", heir.person_id, after=after)
    return heir


def _heir(ctx: Ctx, heir_id: str) -> Heir:
    heir = ctx.session.get(Heir, heir_id)
    if heir is None:
        raise NotFound(f"no heir {heir_id}")
    return heir


def identity(ctx: Ctx, heir_id: str) -> tuple[str, str]:
    """The heir's ID number (opened) and name, for the bank file."""
    heir = _heir(ctx, heir_id)
    return ctx.keyring.decrypt_text(heir.id_number_enc, heir.id), heir.name


def is_flagged(ctx: Ctx, heir_id: str) -> bool:
    heir = ctx.session.get(Heir, heir_id)
    return heir is None or heir.flag is not None


def payee_details(ctx: Ctx, heir_id: str) -> tuple[str, str, str]:
    """Account, ID number and name of the heir, for a bank file."""
    heir = _heir(ctx, heir_id)
    account = ctx.keyring.decrypt_text(heir.bank_account_enc, heir.id)
    return account, *identity(ctx, heir_id)
