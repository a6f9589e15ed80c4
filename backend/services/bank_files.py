"""Disbursement files (代发文件): one frozen batch per payroll run, re-issue or heirs' payout,
written in the layout of the county's agency bank (backend/banks/layout.py).

A batch is frozen the first time its file is asked for: its lines, accounts and amounts are
stored (accounts sealed), so the same file comes out every time and a return file (回盘) can be
matched line by line. A run is sent to one bank only: asking for another bank's file of a run
already frozen is refused, so no line can be paid twice. Re-issues that are due (a returned
payment whose account has been fixed) ride in the next payroll file frozen, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import col, select

from backend import ledger
from backend.banks.layout import Banks, load_banks
from backend.errors import Conflict, NotFound
from backend.ledger import Transfer
from backend.models import (
    Disbursement,
    DisbursementItem,
    DisbursementPart,
    Heir,
    Person,
)
from backend.services import audit
from backend.services.context import Ctx

SSC_PREFIX = "SSC:"


@dataclass
class Draft:
    """One person's money to put in a bank file."""

    person_id: str
    account: str  # '' = the social security card's financial account, found by ID number
    id_number: str
    name: str
    amount_fen: int
    source: str  # payroll | reissue | heirs | refund
    source_ref: str
    payout_account: str
    run_id: str | None = None
    payee: str = ""
    transfers: list[Transfer] = field(default_factory=list)  # posted when the batch freezes


def banks() -> Banks:
    return load_banks()


def get(ctx: Ctx, disbursement_id: str) -> Disbursement:
    row = ctx.session.get(Disbursement, disbursement_id)
    if row is None:
        raise NotFound(f"no disbursement {disbursement_id}")
    return row


def of_run(ctx: Ctx, run_id: str) -> Disbursement:
    row = ctx.session.exec(
        select(Disbursement).where(Disbursement.natural_key.startswith(f"payroll:{run_id}:"))
    ).first()
    if row is None:
        raise Conflict(
            f"payroll run {run_id} has no bank file yet: fetch its bank file first",
            code="no_bank_file",
        )
    return row


# --- freezing and writing -----------------------------------------------------------------------


def freeze(
    ctx: Ctx, natural_key: str, kind: str, bank_code: str, period: str, drafts: Sequence[Draft]
) -> Disbursement:
    """Store the batch: one item per account (a couple may share one), its parts, and the
    postings the drafts carry, with the audit event, in the caller's transaction."""
    ledger.ensure_fund_accounts(ctx.session)
    groups: dict[str, list[Draft]] = {}
    for d in drafts:
        groups.setdefault(d.account or f"{SSC_PREFIX}{d.id_number}", []).append(d)
    batch = Disbursement(
        id=ledger.new_id("dsb")[:40],
        natural_key=natural_key,
        kind=kind,
        bank_code=bank_code,
        period=period,
        count=len(groups),
        persons=len(drafts),
        total_fen=sum(d.amount_fen for d in drafts),
        created_by=ctx.actor.label,
    )
    ctx.session.add(batch)
    ctx.session.flush()  # a concurrent twin with the same natural key fails here
    for seq, key in enumerate(sorted(groups), start=1):
        parts = groups[key]
        first = parts[0]
        item = DisbursementItem(
            disbursement_id=batch.id,
            seq=seq,
            account_enc=ctx.keyring.encrypt_text(first.account, first.person_id)
            if first.account
            else None,
            ssc=not first.account,
            seal_person_id=first.person_id,
            amount_fen=sum(p.amount_fen for p in parts),
            persons=len(parts),
        )
        ctx.session.add(item)
        ctx.session.flush()
        for d in parts:
            ctx.session.add(
                DisbursementPart(
                    item_id=item.id or 0,
                    disbursement_id=batch.id,
                    person_id=d.person_id,
                    run_id=d.run_id,
                    source=d.source,
                    source_ref=d.source_ref,
                    payee=d.payee,
                    amount_fen=d.amount_fen,
                    payout_account=d.payout_account,
                )
            )
            _post_draft(ctx, batch, d)
    ctx.session.flush()
    audit.record(
        ctx,
        "bank_file.freeze",
        batch.id,
        after={
            "kind": kind,
            "bank": bank_code,
            "period": period,
            "count": batch.count,
            "persons": batch.persons,
            "total_fen": batch.total_fen,
        },
    )
    return batch


def _post_draft(ctx: Ctx, batch: Disbursement, d: Draft) -> None:
    if not d.transfers:
        return
    ledger.post(
        ctx.session,
        idempotency_key=f"{d.source}:{d.source_ref}",
        operation=d.source,
        on=ctx.today,
        transfers=d.transfers,
        person_id=d.person_id,
        memo=f"bank file {batch.id}",
        created_by=ctx.actor.label,
    )


@dataclass
class Line:
    seq: int
    account: str
    id_number: str
    name: str
    amount_fen: int
    persons: int


def lines_of(ctx: Ctx, batch: Disbursement) -> list[Line]:
    """The batch's lines as sent: accounts opened, the first payee's ID number and name."""
    items = ctx.session.exec(
        select(DisbursementItem)
        .where(DisbursementItem.disbursement_id == batch.id)
        .order_by(col(DisbursementItem.seq))
    ).all()
    out = []
    for item in items:
        first = ctx.session.exec(
            select(DisbursementPart)
            .where(DisbursementPart.item_id == item.id)
            .order_by(col(DisbursementPart.id))
        ).first()
        assert first is not None
        if first.payee:
            # an heir's part: their ID number and name (read here, not through heirs.py,
            # which writes its payouts through this module)
            heir = ctx.session.get(Heir, first.payee)
            assert heir is not None
            id_number, name = ctx.keyring.decrypt_text(heir.id_number_enc, heir.id), heir.name
        else:
            person = ctx.session.get(Person, first.person_id)
            assert person is not None
            id_number = ctx.keyring.decrypt_text(person.id_number_enc, person.id)
            name = person.name
        account = (
            ctx.keyring.decrypt_text(item.account_enc, item.seal_person_id)
            if item.account_enc
            else ""
        )
        out.append(Line(item.seq, account, id_number, name, item.amount_fen, item.persons))
    return out


def render(ctx: Ctx, batch: Disbursement) -> bytes:
    layout = banks().get(batch.bank_code)
    lines = lines_of(ctx, batch)
    common = {"bank": batch.bank_code, "batch": batch.id, "period": batch.period}
    details = [
        {**common, **{k: v for k, v in ln.__dict__.items()}, "account": ln.account} for ln in lines
    ]
    header = {**common, "count": batch.count, "total_fen": batch.total_fen}
    trailer = {**header, "persons": batch.persons}
    return layout.write(header, details, trailer)


def batch_out(batch: Disbursement) -> dict[str, object]:
    """A frozen batch as the routes and four-eyes confirmations answer it."""
    return {
        "disbursement_id": batch.id,
        "kind": batch.kind,
        "bank": batch.bank_code,
        "count": batch.count,
        "persons": batch.persons,
        "total_fen": batch.total_fen,
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
