"""A payroll run's disbursement file: the run's lines plus the re-issues that are due,
frozen once as a batch (bank_files.freeze) and rendered in the agency bank's layout. Kept
apart from bank_files so that bank_files (written to by heirs' payouts and refunds) does not
depend on the return handling (bank_returns), which depends on it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select

from backend.banks.layout import Layout
from backend.errors import Conflict
from backend.models import Disbursement, PayrollLine, PayrollRun, Person
from backend.services import bank_changes, bank_returns
from backend.services.bank_files import Draft, banks, freeze, render
from backend.services.context import Ctx
from backend.services.payroll import require_approved


def payroll_file(ctx: Ctx, run_id: str, bank_code: str | None = None) -> tuple[Layout, bytes]:
    run_row = require_approved(ctx.session, run_id)
    layout = banks().get(bank_code)
    # the run row is the lock: two first fetches at once freeze one batch, the second reads it
    ctx.session.exec(select(PayrollRun).where(PayrollRun.id == run_id).with_for_update()).one()
    frozen = ctx.session.exec(
        select(Disbursement).where(Disbursement.natural_key.startswith(f"payroll:{run_id}:"))
    ).first()
    if frozen is not None:
        if frozen.bank_code != layout.code:
            raise Conflict(
                f"payroll run {run_id} was sent to bank {frozen.bank_code}; one run, one bank",
                code="bank_file_frozen",
            )
        return layout, render(ctx, frozen)
    drafts = _payroll_drafts(ctx, run_id) + due_reissues(ctx, run_id)
    batch = freeze(
        ctx, f"payroll:{run_id}:{layout.code}", "payroll", layout.code, run_row.period, drafts
    )
    batch.run_id = run_id
    ctx.session.add(batch)
    ctx.session.flush()
    bank_returns.link_reissues(ctx, batch)
    return layout, render(ctx, batch)


def _payroll_drafts(ctx: Ctx, run_id: str) -> list[Draft]:
    rows = ctx.session.execute(
        sa.select(
            col(PayrollLine.id),
            col(PayrollLine.bank_account_enc),
            col(PayrollLine.total_fen),
            col(Person.id),
            col(Person.name),
            col(Person.id_number_enc),
        )
        .join(Person, col(Person.id) == PayrollLine.person_id)
        .where(col(PayrollLine.run_id) == run_id)
        .order_by(PayrollLine.person_id)
    )
    return [
        Draft(
            person_id=pid,
            # the line's sealed copy of the award's account, opened only for the bank's file
            account=bank_changes.opened(ctx.keyring, pid, account),
            id_number=ctx.keyring.decrypt_text(enc, pid),
            name=name,
            amount_fen=int(total),
            source="payroll",
            source_ref=str(line_id),
            payout_account="payout:pensions",
            run_id=run_id,
        )
        for line_id, account, total, pid, name, enc in rows
        if int(total) > 0
    ]


def due_reissues(ctx: Ctx, run_id: str | None = None) -> list[Draft]:
    """Returned parts whose payee's account is fixed and that nobody re-issued yet."""
    return bank_returns.reissue_drafts(ctx, exclude_run=run_id)
