"""Return files (回盘): each line of a bank file becomes `paid` or `returned` with the bank's
reason. A returned line moves its money from the payout account into `returned:payments`
(one balanced posting per person, keyed so it is made once) and flags the person until their
account is fixed; then the amount is re-issued exactly once (in a later payroll's file or on
demand). The same file imported again changes nothing; a file whose header, trailer or lines
do not match the batch that was sent is refused whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from backend import ledger
from backend.answers_payments import ReturnImportOut
from backend.banks.layout import PAID, BankFileError, Layout
from backend.errors import Conflict, NotFound, field_error
from backend.ledger import Transfer
from backend.models import (
    Award,
    BankReturnFile,
    Death,
    Disbursement,
    DisbursementItem,
    DisbursementPart,
    PaidMonth,
    PayeeAccount,
    PayrollLine,
    Person,
    PersonChange,
    RecoveryOrder,
    utcnow,
)
from backend.services import audit, bank_changes, bank_files, hooks
from backend.services.context import Ctx

MAX_RETURN_BYTES = 20 * 1024 * 1024
RETURNED = "returned:payments"
REFUNDS = "payout:refunds"
PENSIONS = "payout:pensions"


@dataclass(frozen=True)
class Outcome:
    item: DisbursementItem
    result: str  # paid | a reason
    bank_reason: str


def import_for_run(ctx: Ctx, run_id: str, data: bytes) -> ReturnImportOut:
    return import_file(ctx, bank_files.of_run(ctx, run_id), data)


def import_file(ctx: Ctx, batch: Disbursement, data: bytes) -> ReturnImportOut:
    if len(data) > MAX_RETURN_BYTES:
        raise BankFileError("the return file is larger than 20 MB", code="file_too_large")
    # one import of a batch at a time: the batch row is the lock
    batch = ctx.session.exec(
        select(Disbursement).where(Disbursement.id == batch.id).with_for_update()
    ).one()
    digest = bank_files.sha256(data)
    seen = ctx.session.exec(
        select(BankReturnFile).where(
            BankReturnFile.disbursement_id == batch.id, BankReturnFile.sha256 == digest
        )
    ).first()
    if seen is not None:
        return ReturnImportOut(**summary(seen), replayed=True)
    layout = bank_files.banks().get(batch.bank_code)
    outcomes = _validate(ctx, layout, batch, data)
    row = BankReturnFile(
        id=ledger.new_id("ret")[:40],
        disbursement_id=batch.id,
        sha256=digest,
        paid=sum(1 for o in outcomes if o.result == PAID),
        returned=sum(1 for o in outcomes if o.result != PAID),
        paid_fen=sum(o.item.amount_fen for o in outcomes if o.result == PAID),
        returned_fen=sum(o.item.amount_fen for o in outcomes if o.result != PAID),
        imported_by=ctx.actor.label,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ledger.ensure_fund_accounts(ctx.session)
    changed = sum(_apply(ctx, batch, row, o) for o in outcomes)
    out = ReturnImportOut(**summary(row), changed_lines=changed, replayed=False)
    audit.record(ctx, "bank_return.import", batch.id, after=out.model_dump())
    return out


def summary(row: BankReturnFile) -> dict[str, Any]:
    return {
        "return_id": row.id,
        "disbursement_id": row.disbursement_id,
        "sha256": row.sha256,
        "paid": row.paid,
        "returned": row.returned,
        "paid_fen": row.paid_fen,
        "returned_fen": row.returned_fen,
    }


# --- checking the whole file before anything moves ----------------------------------------------


def _mismatch(detail: str) -> BankFileError:
    return BankFileError(detail, code="return_totals_mismatch")


def _validate(ctx: Ctx, layout: Layout, batch: Disbursement, data: bytes) -> list[Outcome]:
    header, details, trailer = layout.read(data, returns=True)
    if header.get("batch", batch.id) != batch.id:
        raise BankFileError(
            f"this return file answers bank file {header['batch']}, not {batch.id}",
            code="return_wrong_batch",
        )
    total = sum(int(d["amount_fen"]) for d in details)
    for where, rec in (("header", header), ("trailer", trailer)):
        if "count" in rec and int(rec["count"]) != len(details):
            raise _mismatch(f"the {where} counts {rec['count']} lines, the file has {len(details)}")
        if "total_fen" in rec and int(rec["total_fen"]) != total:
            raise _mismatch(f"the {where} total {rec['total_fen']} fen != the lines' {total} fen")
    if (len(details), total) != (batch.count, batch.total_fen):
        raise _mismatch(
            f"the file has {len(details)} lines of {total} fen; bank file {batch.id} sent "
            f"{batch.count} lines of {batch.total_fen} fen"
        )
    items = {
        i.seq: i
        for i in ctx.session.exec(
            select(DisbursementItem).where(DisbursementItem.disbursement_id == batch.id)
        ).all()
    }
    sent = {ln.seq: ln for ln in bank_files.lines_of(ctx, batch)}
    outcomes: list[Outcome] = []
    seen: set[int] = set()
    for n, d in enumerate(details, start=1):
        seq = int(d["seq"])
        item, line = items.get(seq), sent.get(seq)
        if item is None or line is None or seq in seen:
            raise _mismatch(f"return line {n}: seq {seq} is unknown or repeated")
        seen.add(seq)
        if (
            int(d["amount_fen"]) != item.amount_fen
            or d.get("account", line.account) != line.account
        ):
            raise _mismatch(
                f"return line {n} (seq {seq}): amount or account differs from what was sent"
            )
        meaning = layout.results.get(d["result"])
        if meaning is None:
            raise BankFileError(
                f"return line {n}: unknown result code {d['result']!r}", code="unknown_result_code"
            )
        if item.status != "sent" and item.status != ("paid" if meaning == PAID else "returned"):
            raise Conflict(
                f"line {seq} was already {item.status} by an earlier return file; this one says {meaning}",
                code="return_contradicts",
            )
        outcomes.append(Outcome(item, meaning, d.get("reason", "")[:200]))
    _check_counts(trailer, outcomes)
    return outcomes


def _check_counts(trailer: dict[str, str], outcomes: list[Outcome]) -> None:
    paid = [o for o in outcomes if o.result == PAID]
    back = [o for o in outcomes if o.result != PAID]
    expected = {
        "paid_count": len(paid),
        "returned_count": len(back),
        "paid_fen": sum(o.item.amount_fen for o in paid),
        "returned_fen": sum(o.item.amount_fen for o in back),
    }
    for name, value in expected.items():
        if name in trailer and int(trailer[name]) != value:
            raise _mismatch(f"the trailer's {name} is {trailer[name]}, the lines make {value}")


# --- applying ------------------------------------------------------------------------------------


def _apply(ctx: Ctx, batch: Disbursement, ret: BankReturnFile, o: Outcome) -> int:
    if o.item.status != "sent":  # told the same again by another file: nothing changes
        return 0
    returned = o.result != PAID
    o.item.status = "returned" if returned else "paid"
    o.item.reason = o.result if returned else None
    o.item.bank_reason = o.bank_reason or None
    o.item.return_file_id = ret.id
    ctx.session.add(o.item)
    for part in ctx.session.exec(
        select(DisbursementPart).where(DisbursementPart.item_id == o.item.id)
    ).all():
        part.status = o.item.status
        if returned:
            _return_part(ctx, batch, part, o.result)
        ctx.session.add(part)
    ctx.session.flush()
    return 1


def _return_part(ctx: Ctx, batch: Disbursement, part: DisbursementPart, reason: str) -> None:
    posted = ledger.post(
        ctx.session,
        idempotency_key=f"return:{part.id}",
        operation="bank_return",
        on=ctx.today,
        transfers=[Transfer(part.payout_account, RETURNED, part.amount_fen, f"returned:{reason}")],
        person_id=part.person_id,
        memo=f"returned by the bank: {reason} (bank file {batch.id})",
        created_by=ctx.actor.label,
    )
    part.return_posting_id = posted.posting_id
    if part.source == "payroll":
        line = ctx.session.get(PayrollLine, int(part.source_ref))
        if line is not None:
            line.status = "returned"
            ctx.session.add(line)
    if part.payee:  # an heir's payment: the heir's account is the one to fix
        from backend.services import heirs

        heirs.flag(ctx, part.payee, reason)
    else:
        flag(ctx, part.person_id, reason, f"part:{part.id}")
    hooks.on_payment_returned(
        ctx, part.person_id, ref=f"part:{part.id}", period=batch.period, amount_fen=part.amount_fen
    )
    if not part.payee and part.payout_account == PENSIONS:
        death = _death_in_force(ctx, part.person_id)
        if death is not None:  # the death is confirmed already: to the estate at once
            ctx.session.flush()
            _to_estate(ctx, part, months_of_date(death.date_of_death))


def payee(ctx: Ctx, person_id: str, *, create: bool = True) -> PayeeAccount:
    """The person's payee row (an active card account and no flag until told otherwise);
    created only when something is to be written to it."""
    row = ctx.session.get(PayeeAccount, person_id)
    if row is not None:
        return row
    if ctx.session.get(Person, person_id) is None:
        raise NotFound(f"no person {person_id}")
    row = PayeeAccount(person_id=person_id, updated_by=ctx.actor.label)
    if create:
        ctx.session.add(row)
        ctx.session.flush()
    return row


def flag(ctx: Ctx, person_id: str, reason: str, ref: str) -> None:
    row = payee(ctx, person_id)
    before = {"flag": row.flag, "ssc_state": row.ssc_state}
    row.flag, row.flag_ref, row.flagged_at = reason, ref, utcnow()
    if reason == "ssc_account_inactive":
        row.ssc_state = "inactive"
    row.updated_by, row.updated_at = ctx.actor.label, utcnow()
    ctx.session.add(row)
    audit.record(ctx, "payee.flag", person_id, before=before, after={"flag": reason, "ref": ref})


def clear_flag(ctx: Ctx, person_id: str, why: str) -> None:
    """The account is fixed (a confirmed bank-account change, or the card's account active
    again): the person's returned money may be re-issued."""
    row = ctx.session.get(PayeeAccount, person_id)
    if row is None or row.flag is None:
        return
    before = {"flag": row.flag, "ssc_state": row.ssc_state}
    row.flag, row.flag_ref = None, None
    row.updated_by, row.updated_at = ctx.actor.label, utcnow()
    ctx.session.add(row)
    audit.record(ctx, "payee.unflag", person_id, before=before, after={"why": why})


# --- re-issue ------------------------------------------------------------------------------------


def reissue_drafts(
    ctx: Ctx,
    *,
    exclude_run: str | None = None,
    person_id: str | None = None,
    part_ids: set[int] | None = None,
) -> list[bank_files.Draft]:
    """A draft per returned part not yet re-issued, whose payee is no longer flagged. The
    draft's posting moves the money back from `returned:payments` to the payout account.
    A part settled to a deceased holder's estate is never re-issued."""
    query = select(DisbursementPart).where(
        DisbursementPart.status == "returned",
        col(DisbursementPart.reissued_by).is_(None),
        col(DisbursementPart.estate_posting_id).is_(None),
    )
    if person_id is not None:
        query = query.where(DisbursementPart.person_id == person_id)
    if part_ids is not None:
        query = query.where(col(DisbursementPart.id).in_(part_ids or {-1}))
    drafts = []
    for part in ctx.session.exec(query.order_by(col(DisbursementPart.id))).all():
        if exclude_run is not None and part.run_id == exclude_run:
            continue  # a run's own returns are not re-sent in the same run's file
        if _flagged(ctx, part):
            continue
        drafts.append(_reissue_draft(ctx, part))
    return drafts


def _flagged(ctx: Ctx, part: DisbursementPart) -> bool:
    if part.payee:
        from backend.services import heirs

        return heirs.is_flagged(ctx, part.payee)
    row = ctx.session.get(PayeeAccount, part.person_id)
    if row is None:
        return False
    if (
        row.flag is not None
        and row.flag in FIXED_BY_NEW_ACCOUNT
        and _account_changed_since(ctx, row)
    ):
        clear_flag(ctx, row.person_id, "bank account changed (four eyes) after the return")
    if row.flag is not None:
        return True
    # money for the card's financial account waits while that account is not active
    return not _account_for(ctx, part) and row.ssc_state != "active"


# returns that a new bank account fixes; a deceased holder is a death to report, not a fix
FIXED_BY_NEW_ACCOUNT = ("account_closed", "name_mismatch", "other")


def _account_changed_since(ctx: Ctx, row: PayeeAccount) -> bool:
    since = row.flagged_at
    changes = ctx.session.exec(
        select(PersonChange.changed_at).where(
            PersonChange.person_id == row.person_id, PersonChange.field == "bank_account"
        )
    ).all()
    return any(since is None or _aware(c) >= _aware(since) for c in changes)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _account_for(ctx: Ctx, part: DisbursementPart) -> str:
    """Where a returned part is re-issued: a pension to the award's account; a refund to the
    corrected account a second person confirmed, else the card's account ('')."""
    if part.payout_account == REFUNDS:
        return reissue_account(ctx, part.person_id)
    return _own_account(ctx, part.person_id)


def _own_account(ctx: Ctx, person_id: str) -> str:
    award = ctx.session.exec(
        select(Award).where(Award.person_id == person_id, col(Award.revoked_at).is_(None))
    ).first()
    return bank_changes.opened(ctx.keyring, person_id, award.bank_account_enc if award else None)


def set_ssc_state(ctx: Ctx, person_id: str, state: str, reason: str) -> PayeeAccount:
    """Record the state of the social security card's financial account, as the bank or the
    card centre reports it; an active account clears a return for an inactive one."""
    if state not in SSC_STATES:
        raise field_error("state", f"one of {', '.join(SSC_STATES)}")
    if not reason.strip():
        raise field_error("reason", "say who reported the card account's state")
    row = payee(ctx, person_id)
    before = {"ssc_state": row.ssc_state, "flag": row.flag}
    row.ssc_state = state
    row.updated_by, row.updated_at = ctx.actor.label, utcnow()
    ctx.session.add(row)
    audit.record(
        ctx,
        "payee.ssc_state",
        person_id,
        before=before,
        after={"ssc_state": state, "reason": reason.strip()[:200]},
    )
    if state == "active" and row.flag == "ssc_account_inactive":
        clear_flag(ctx, person_id, "the card's financial account is active again")
    return row


SSC_STATES = ("active", "inactive", "closed")


def _reissue_draft(ctx: Ctx, part: DisbursementPart) -> bank_files.Draft:
    from backend.services import heirs

    if part.payee:
        account, id_number, name = heirs.payee_details(ctx, part.payee)
    else:
        person = ctx.session.get(Person, part.person_id)
        assert person is not None
        account = _account_for(ctx, part)
        id_number = ctx.keyring.decrypt_text(person.id_number_enc, person.id)
        name = person.name
    return bank_files.Draft(
        person_id=part.person_id,
        account=account,
        id_number=id_number,
        name=name,
        amount_fen=part.amount_fen,
        source="reissue",
        source_ref=str(part.id),
        payout_account=part.payout_account,
        run_id=part.run_id,
        payee=part.payee,
        transfers=[Transfer(RETURNED, part.payout_account, part.amount_fen, "reissue")],
    )


def link_reissues(ctx: Ctx, batch: Disbursement) -> None:
    """Mark each returned part re-issued by the part of `batch` that carries it."""
    for new in ctx.session.exec(
        select(DisbursementPart).where(
            DisbursementPart.disbursement_id == batch.id, DisbursementPart.source == "reissue"
        )
    ).all():
        old = ctx.session.get(DisbursementPart, int(new.source_ref))
        assert old is not None
        old.reissued_by = new.id
        ctx.session.add(old)
    ctx.session.flush()


def reissue_now(
    ctx: Ctx, person_id: str | None, bank_code: str | None, *, part_ids: set[int] | None = None
) -> Disbursement:
    """Re-issue on demand (a second person confirmed it: four_eyes.propose_reissue): a batch of
    its own with every due re-issue (of one person, or all; of the parts proposed only)."""
    drafts = reissue_drafts(ctx, person_id=person_id, part_ids=part_ids)
    if not drafts:
        raise Conflict(
            "nothing to re-issue: no returned payment whose account has been fixed",
            code="nothing_to_reissue",
        )
    layout = bank_files.banks().get(bank_code)
    key = f"reissue:{ledger.new_id('r')}"
    batch = bank_files.freeze(ctx, key, "reissue", layout.code, months_of(ctx), drafts)
    link_reissues(ctx, batch)
    return batch


def months_of(ctx: Ctx) -> str:
    return ctx.today.isoformat()[:7]


# --- a returned refund's corrected account (four eyes: services/four_eyes) -----------------------


def refund_awaiting_account(ctx: Ctx, person_id: str) -> bool:
    """A refund of this person's came back from the bank and waits to be re-issued."""
    return (
        ctx.session.exec(
            select(DisbursementPart.id).where(
                DisbursementPart.person_id == person_id,
                DisbursementPart.payout_account == REFUNDS,
                DisbursementPart.status == "returned",
                col(DisbursementPart.reissued_by).is_(None),
            )
        ).first()
        is not None
    )


def reissue_account(ctx: Ctx, person_id: str) -> str:
    """The confirmed account a returned refund goes to; '' = the card's financial account."""
    row = ctx.session.get(PayeeAccount, person_id)
    if row is None or row.reissue_account_enc is None:
        return ""
    return ctx.keyring.decrypt_text(row.reissue_account_enc, person_id)


def hold_pending_account(ctx: Ctx, person_id: str, account: str) -> None:
    """The proposed account waits here, sealed, for the second person."""
    row = payee(ctx, person_id)
    row.pending_account_enc = ctx.keyring.encrypt_text(account, person_id)
    row.updated_by, row.updated_at = ctx.actor.label, utcnow()
    ctx.session.add(row)
    ctx.session.flush()


def apply_refund_account(ctx: Ctx, request: Any, payload: dict[str, Any]) -> None:
    """A second person confirmed the account: returned refunds are re-issued to it. The change
    is kept in the person's history; the return's flag is cleared (the account is fixed)."""
    row = payee(ctx, request.person_id)
    pending = (
        ctx.keyring.decrypt_text(row.pending_account_enc, row.person_id)
        if row.pending_account_enc is not None
        else None
    )
    if pending is None or (
        ctx.keyring.lookup_hash(pending, purpose="refund_account") != payload["account_hash"]
    ):
        raise Conflict(
            "the account waiting for confirmation is not the one proposed: propose it again",
            code="not_pending",
        )
    row.reissue_account_enc, row.pending_account_enc = row.pending_account_enc, None
    row.updated_by, row.updated_at = ctx.actor.label, utcnow()
    ctx.session.add(row)
    ctx.session.add(
        PersonChange(
            person_id=row.person_id,
            field="bank_account",
            old_value=payload["old"],
            new_value=payload["new"],
            reason=(
                f"refund re-issue: {payload['reason']} (request {request.id}, proposed by "
                f"{request.proposed_by}, confirmed by {ctx.actor.label})"
            )[:1000],
            changed_by=ctx.actor.label,
        )
    )
    ctx.session.flush()
    if row.flag in (*FIXED_BY_NEW_ACCOUNT, "ssc_account_inactive"):
        clear_flag(ctx, row.person_id, "refund account changed (four eyes) after the return")


# --- returned money of a deceased holder: to the estate --------------------------------------------


def settle_to_estate(ctx: Ctx, person_id: str) -> int:
    """Once the person's death is confirmed, returned pension money that was not re-issued can
    no longer reach them: each returned part moves out of `returned:payments` in one balanced
    posting (key `estate:{part}`), with its audit event: the part for months after the death
    repays the settlement's recovery order (an overpayment that never arrived), the rest goes to
    `payable:heirs`, paid by the heirs' payout. Made once per part; returns the fen moved."""
    death = _death_in_force(ctx, person_id)
    if death is None:
        return 0
    parts = ctx.session.exec(
        select(DisbursementPart)
        .where(
            DisbursementPart.person_id == person_id,
            DisbursementPart.status == "returned",
            DisbursementPart.payout_account == PENSIONS,
            DisbursementPart.payee == "",
            col(DisbursementPart.reissued_by).is_(None),
            col(DisbursementPart.estate_posting_id).is_(None),
        )
        .order_by(col(DisbursementPart.id))
    ).all()
    return sum(_to_estate(ctx, part, months_of_date(death.date_of_death)) for part in parts)


def months_of_date(day: Any) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _death_in_force(ctx: Ctx, person_id: str) -> Death | None:
    return ctx.session.exec(
        select(Death).where(
            Death.person_id == person_id,
            Death.reason == "death",
            col(Death.reversed_at).is_(None),
        )
    ).first()


def _after_death_fen(ctx: Ctx, part: DisbursementPart, end_month: str) -> int:
    """What of the part paid months after the month of death (the settlement counted them
    overpaid)."""
    if part.run_id is None:
        return 0
    rows = ctx.session.exec(
        select(PaidMonth).where(
            PaidMonth.person_id == part.person_id,
            PaidMonth.run_id == part.run_id,
            PaidMonth.month > end_month,
        )
    ).all()
    return min(part.amount_fen, sum(r.basic_fen + r.account_fen for r in rows))


def _to_estate(ctx: Ctx, part: DisbursementPart, end_month: str) -> int:
    ledger.ensure_fund_accounts(ctx.session)
    order = ctx.session.exec(
        select(RecoveryOrder)
        .where(
            RecoveryOrder.person_id == part.person_id,
            RecoveryOrder.reason == "death",
            RecoveryOrder.status == "open",
        )
        .with_for_update()
    ).first()
    open_fen = (order.due_fen - order.repaid_fen) if order is not None else 0
    recovered = min(_after_death_fen(ctx, part, end_month), max(open_fen, 0))
    to_heirs = part.amount_fen - recovered
    moves = []
    if to_heirs:
        moves.append(Transfer(RETURNED, "payable:heirs", to_heirs, "returned_to_heirs"))
    if recovered:
        moves.append(Transfer(RETURNED, "receivable:recoveries", recovered, "returned_recovered"))
    posted = ledger.post(
        ctx.session,
        idempotency_key=f"estate:{part.id}",
        operation="returned_to_estate",
        on=ctx.today,
        transfers=moves,
        person_id=part.person_id,
        memo=f"returned payment of a deceased holder (part {part.id}) settled to the estate",
        created_by=ctx.actor.label,
    )
    part.estate_posting_id = posted.posting_id
    ctx.session.add(part)
    if order is not None and recovered and posted.created:
        order.repaid_fen += recovered
        order.status = "settled" if order.repaid_fen >= order.due_fen else "open"
        ctx.session.add(order)
    ctx.session.flush()
    audit.record(
        ctx,
        "bank_return.to_estate",
        part.person_id,
        after={
            "part_id": part.id,
            "posting_id": posted.posting_id,
            "to_heirs_fen": to_heirs,
            "recovered_fen": recovered,
            "recovery_order_id": order.id if order is not None and recovered else None,
        },
    )
    return part.amount_fen
