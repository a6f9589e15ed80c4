"""Maker-checker (四眼 / 内控) for the irreversible acts that are not terminations: one person
proposes, a different person confirms, and only the confirmation acts.

Kinds:
- `suspension_lift`: lifting a suspension that takes two (FOUR_EYES_LIFT, e.g. `investigation`,
  which two reviewers impose); a `manual` suspension is still lifted by one clerk.
- `contribution_reversal`: the reversing posting of a contribution (services/contributions).
- `bank_account`: the account a pension is paid into (the live award's `bank_account_enc`),
  changed from an effective date; confirmed changes due later are applied by the payroll. For a
  cancelled member whose refund the bank returned: the account the refund is re-issued to
  (payload `target: "refund"`, the account sealed in `payee_account`), applied on confirmation.
- money out (docs/payments.md): `cancellation_refund`, `transfer_out`, `heirs_payout` (paying
  `payable:heirs` to the confirmed heirs) and `reissue` (re-issuing returned payments now, in a
  file of their own): the proposal moves nothing; the confirmation posts the money.

A request's payload shows bank accounts masked (`****1234`); the full account is sealed in
`account_enc` (person id as associated data, services/bank_changes.py) and opened only to act.

A request row is locked while it is decided, so concurrent confirmations act once: the first
answers, the later ones replay its answer (`replayed`), with no second movement and no second
audit event. Every proposal, confirmation and rejection writes its audit event in the same
transaction as the act.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import select

from backend import ledger
from backend.answers_staff import ApprovalDecidedOut, ApprovalOut
from backend.errors import Conflict, Forbidden, NotFound, RuleRefused, field_error
from backend.idnumber import mask_account
from backend.models import (
    Contribution,
    FourEyesRequest,
    Suspension,
    utcnow,
)
from backend.services import (
    audit,
    awards,
    bank_changes,
    bank_files,
    bank_returns,
    contributions,
    registry,
    suspensions,
)
from backend.services.context import Ctx
from backend.services.maker_checker import require_second_person
from backend.services.terminations import not_pending

KINDS = (
    "suspension_lift",
    "contribution_reversal",
    "bank_account",
    "cancellation_refund",  # money out (services/refunds.py)
    "transfer_out",  # money out (services/transfers.py)
    "heirs_payout",  # money out (services/heirs.py)
    "reissue",  # money out (services/bank_returns.py), on demand
)
# money only an admin releases (the routes that propose them are admin's): an admin confirms too
ADMIN_CONFIRMS = ("heirs_payout", "reissue")
# suspensions that two imposed, so two lift; a duplicate record's hold releases money, so two too
FOUR_EYES_LIFT = ("investigation", "duplicate_id_number")
BANK_ACCOUNT = re.compile(r"^[0-9 -]{8,40}$")


@dataclass
class Decided:
    request: FourEyesRequest
    result: dict[str, Any]
    replayed: bool = False


def get(ctx: Ctx, request_id: str, *, lock: bool = False) -> FourEyesRequest:
    query = select(FourEyesRequest).where(FourEyesRequest.id == request_id)
    row = ctx.session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no four-eyes request {request_id}")
    return row


def _propose(
    ctx: Ctx,
    kind: str,
    subject_id: str,
    person_id: str | None,
    payload: dict[str, Any],
    account_enc: bytes | None = None,
) -> FourEyesRequest:
    existing = ctx.session.exec(
        select(FourEyesRequest.id).where(
            FourEyesRequest.kind == kind,
            FourEyesRequest.subject_id == subject_id,
            FourEyesRequest.status == "pending",
        )
    ).first()
    if existing:
        raise Conflict(
            f"request {existing} for this already waits for a second person",
            code="already_proposed",
        )
    row = FourEyesRequest(
        id=ledger.new_id("req")[:40],
        kind=kind,
        subject_id=subject_id,
        person_id=person_id,
        payload=json.dumps(payload, sort_keys=True, ensure_ascii=False),
        account_enc=account_enc,
        proposed_by=ctx.actor.label,
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(ctx, f"{kind}.propose", person_id or subject_id, after=out(row))
    return row


# --- the proposals ----------------------------------------------------------------------------


def propose_lift(ctx: Ctx, suspension_id: str, note: str) -> FourEyesRequest | Suspension:
    """A four-eyes suspension: a request. Any other staff suspension: lifted at once."""
    row = ctx.session.get(Suspension, suspension_id)
    if row is None:
        raise NotFound(f"no suspension {suspension_id}")
    if row.reason not in FOUR_EYES_LIFT:
        lifted = suspensions.lift(ctx, suspension_id, note)
        audit.record(ctx, "suspension.lift", lifted.person_id, after={"suspension_id": lifted.id})
        return lifted
    suspensions.check_liftable(row, ctx)
    if not note.strip():
        raise field_error("note", "say why")
    return _propose(ctx, "suspension_lift", row.id, row.person_id, {"note": note.strip()})


def propose_reversal(ctx: Ctx, contribution_id: str, reason: str) -> FourEyesRequest:
    c = ctx.session.get(Contribution, contribution_id)
    if c is None:
        raise NotFound(f"no contribution {contribution_id}")
    if c.reversed_at is not None:
        raise Conflict("this contribution has already been reversed", code="already_reversed")
    if not reason.strip():
        raise field_error("reason", "a correction needs a reason")
    return _propose(ctx, "contribution_reversal", c.id, c.person_id, {"reason": reason.strip()})


def propose_bank_account(
    ctx: Ctx, person_id: str, bank_account: str, effective_on: date, reason: str
) -> FourEyesRequest:
    registry.lock(ctx, person_id)
    award = awards.live_award(ctx, person_id)
    if award is None and bank_returns.refund_awaiting_account(ctx, person_id):
        return _propose_refund_account(ctx, person_id, bank_account, effective_on, reason)
    if award is None:
        raise RuleRefused("the person has no award: the bank account is given with the award")
    _check_account_change(ctx, bank_account, effective_on, reason)
    old = bank_changes.opened(ctx.keyring, person_id, award.bank_account_enc)
    payload = {
        "old": mask_account(old) or None,
        "new": mask_account(bank_account),
        "effective_on": effective_on.isoformat(),
        "reason": reason.strip()[:500],
    }
    sealed = bank_changes.seal(ctx.keyring, person_id, bank_account)
    return _propose(ctx, "bank_account", person_id, person_id, payload, sealed)


def _check_account_change(ctx: Ctx, bank_account: str, effective_on: date, reason: str) -> None:
    """The fields of any bank-account change, a pension's or a returned refund's."""
    if not BANK_ACCOUNT.match(bank_account):
        raise field_error("bank_account", "8 to 40 digits, spaces or dashes")
    if not reason.strip():
        raise field_error("reason", "say why the account changes")
    if effective_on < ctx.today:
        raise field_error("effective_on", "a bank account changes from today or later")


def _propose_refund_account(
    ctx: Ctx, person_id: str, bank_account: str, effective_on: date, reason: str
) -> FourEyesRequest:
    """A returned refund's corrected account: proposed here (sealed, masked in the request),
    applied when a second person confirms; the refund is then re-issued to it."""
    _check_account_change(ctx, bank_account, effective_on, reason)
    payload = {
        "target": "refund",
        "old": mask_account(bank_returns.reissue_account(ctx, person_id)),
        "new": mask_account(bank_account),
        "account_hash": ctx.keyring.lookup_hash(bank_account, purpose="refund_account"),
        "effective_on": effective_on.isoformat(),
        "reason": reason.strip()[:500],
    }
    row = _propose(ctx, "bank_account", person_id, person_id, payload)
    bank_returns.hold_pending_account(ctx, person_id, bank_account)
    return row


def propose_heirs_payout(ctx: Ctx, person_id: str, bank_code: str | None) -> FourEyesRequest:
    """Four eyes: the heirs are paid (a bank file) when a second person confirms; the
    confirmation pays exactly the amount proposed."""
    from backend.services import heirs

    amount = heirs.check_payout(ctx, person_id, bank_code)
    return propose_money_out(
        ctx, "heirs_payout", person_id, {"bank": bank_code, "owed_fen": amount}
    )


def propose_reissue(ctx: Ctx, person_id: str | None, bank_code: str | None) -> FourEyesRequest:
    """Four eyes: the returned payments due now (of one person, or all) are re-issued in a file
    of their own when a second person confirms; only the parts proposed, each once."""
    bank_files.banks().get(bank_code)
    drafts = bank_returns.reissue_drafts(ctx, person_id=person_id)
    if not drafts:
        raise Conflict(
            "nothing to re-issue: no returned payment whose account has been fixed",
            code="nothing_to_reissue",
        )
    payload = {
        "person_id": person_id,
        "bank": bank_code,
        "parts": [int(d.source_ref) for d in drafts],
        "total_fen": sum(d.amount_fen for d in drafts),
    }
    return _propose(ctx, "reissue", person_id or "all", person_id, payload)


# --- deciding ---------------------------------------------------------------------------------


def confirm(ctx: Ctx, request_id: str, note: str = "") -> Decided:
    row = get(ctx, request_id, lock=True)
    if row.status == "confirmed" and row.proposed_by != ctx.actor.label and row.result:
        # a concurrent twin confirmed first: its answer, once, no second act or event
        return Decided(row, json.loads(row.result), replayed=True)
    if row.status != "pending":
        raise not_pending("this request", row.status)
    require_second_person(row.proposed_by, ctx.actor, "this request")
    if row.kind in ADMIN_CONFIRMS and ctx.actor.role != "admin":
        raise Forbidden("a second admin releases this money, not a " + ctx.actor.role)
    before = out(row)
    payload = json.loads(row.payload)
    result = _APPLY[row.kind](ctx, row, payload)
    row.status, row.decided_by, row.decided_at = "confirmed", ctx.actor.label, utcnow()
    row.decision_note = note.strip()[:500] or None
    row.result = json.dumps(result, sort_keys=True, default=str, ensure_ascii=False)
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(
        ctx, f"{row.kind}.confirm", row.person_id or row.subject_id, before=before, after=out(row)
    )
    return Decided(row, result)


def reject(ctx: Ctx, request_id: str, note: str) -> FourEyesRequest:
    """Refusing keeps things as they are (the safe direction): the proposer may withdraw too."""
    if not note.strip():
        raise field_error("note", "say why")
    row = get(ctx, request_id, lock=True)
    if row.status != "pending":
        raise not_pending("this request", row.status)
    before = out(row)
    row.status, row.decided_by, row.decided_at = "rejected", ctx.actor.label, utcnow()
    row.decision_note = note.strip()[:500]
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(
        ctx, f"{row.kind}.reject", row.person_id or row.subject_id, before=before, after=out(row)
    )
    return row


def _apply_lift(ctx: Ctx, row: FourEyesRequest, payload: dict[str, Any]) -> dict[str, Any]:
    note = f"{payload['note']} (proposed by {row.proposed_by})"
    return suspensions.lift(ctx, row.subject_id, note).model_dump(mode="json")


def _apply_reversal(ctx: Ctx, row: FourEyesRequest, payload: dict[str, Any]) -> dict[str, Any]:
    c = contributions.reverse(ctx, row.subject_id, payload["reason"])
    return {
        "contribution_id": c.id,
        "person_id": c.person_id,
        "reversed": True,
        "reversal_posting_id": c.reversal_posting_id,
        "balance_fen": sum(ledger.person_buckets(ctx.session, c.person_id).values()),
    }


def _apply_bank(ctx: Ctx, row: FourEyesRequest, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("target") == "refund":
        bank_returns.apply_refund_account(ctx, row, payload)
        row.applied_at = utcnow()
        return {"person_id": row.person_id, **payload, "applied": True}
    if date.fromisoformat(payload["effective_on"]) <= ctx.today:
        bank_changes.set_bank_account(ctx.session, row, ctx.actor)
    return {"person_id": row.person_id, **payload, "applied": row.applied_at is not None}


def propose_money_out(
    ctx: Ctx,
    kind: str,
    person_id: str,
    payload: dict[str, Any],
    account_enc: bytes | None = None,
) -> FourEyesRequest:
    """A refund or a transfer out, checked by its service, acted on only when confirmed."""
    return _propose(ctx, kind, person_id, person_id, payload, account_enc)


def propose_refund(
    ctx: Ctx, person_id: str, bank_account: str, bank_code: str | None
) -> FourEyesRequest:
    """Four eyes: the refund is made when a second person confirms the request
    (`POST /approvals/{request_id}/confirm`), whose answer is the refund."""
    from backend.services import refunds

    refunds.check_request(ctx, person_id, bank_account, bank_code)
    payload = {"bank_account": mask_account(bank_account), "bank": bank_code}
    sealed = bank_changes.seal(ctx.keyring, person_id, bank_account)
    return propose_money_out(ctx, "cancellation_refund", person_id, payload, sealed)


def propose_transfer_out(ctx: Ctx, person_id: str, to_county: str, reason: str) -> FourEyesRequest:
    """Four eyes: the transfer is made when a second person confirms the request."""
    from backend.services import transfers

    transfers.check_out_request(ctx, person_id, to_county, reason)
    payload = {"to_county": to_county.strip(), "reason": reason.strip()[:200]}
    return propose_money_out(ctx, "transfer_out", person_id, payload)


def _apply_refund(ctx: Ctx, row: FourEyesRequest, payload: dict[str, Any]) -> dict[str, Any]:
    from backend.services import refunds

    account = bank_changes.opened(ctx.keyring, row.person_id or row.subject_id, row.account_enc)
    return refunds.refund(ctx, row.subject_id, account, payload["bank"])


def _apply_transfer_out(ctx: Ctx, row: FourEyesRequest, payload: dict[str, Any]) -> dict[str, Any]:
    from backend.services import transfers

    return transfers.out_summary(
        transfers.transfer_out(ctx, row.subject_id, payload["to_county"], payload["reason"])
    )


def _apply_heirs_payout(ctx: Ctx, row: FourEyesRequest, payload: dict[str, Any]) -> dict[str, Any]:
    from backend.services import heirs

    batch = heirs.payout(ctx, row.subject_id, payload["bank"], amount_fen=payload["owed_fen"])
    return {"person_id": row.subject_id, **bank_files.batch_out(batch)}


def _apply_reissue(ctx: Ctx, row: FourEyesRequest, payload: dict[str, Any]) -> dict[str, Any]:
    batch = bank_returns.reissue_now(
        ctx, payload["person_id"], payload["bank"], part_ids=set(payload["parts"])
    )
    return bank_files.batch_out(batch)


_APPLY = {
    "suspension_lift": _apply_lift,
    "contribution_reversal": _apply_reversal,
    "bank_account": _apply_bank,
    "cancellation_refund": _apply_refund,
    "transfer_out": _apply_transfer_out,
    "heirs_payout": _apply_heirs_payout,
    "reissue": _apply_reissue,
}


# --- reading ----------------------------------------------------------------------------------


def answer(row: FourEyesRequest) -> ApprovalOut:
    return ApprovalOut(
        request_id=row.id,
        kind=row.kind,
        subject_id=row.subject_id,
        person_id=row.person_id,
        status=row.status,
        proposed_by=row.proposed_by,
        proposed_at=row.proposed_at.isoformat(),
        decided_by=row.decided_by,
        decided_at=row.decided_at.isoformat() if row.decided_at else None,
        decision_note=row.decision_note,
        payload=json.loads(row.payload),
        applied=row.applied_at is not None,
    )


def decided_answer(done: Decided) -> ApprovalDecidedOut:
    """A confirmation's answer: the request, and its result typed by the request's kind."""
    return ApprovalDecidedOut.model_validate(
        {**answer(done.request).model_dump(), "result": done.result, "replayed": done.replayed}
    )


def out(row: FourEyesRequest) -> dict[str, Any]:
    """The request as its audit events record it (the answer's fields)."""
    return answer(row).model_dump()


def listing(
    ctx: Ctx, status: str = "pending", kind: str | None = None, person_id: str | None = None
) -> list[FourEyesRequest]:
    query = select(FourEyesRequest)
    if status != "all":
        query = query.where(FourEyesRequest.status == status)
    if kind:
        query = query.where(FourEyesRequest.kind == kind)
    if person_id:
        query = query.where(FourEyesRequest.person_id == person_id)
    return list(ctx.session.exec(query.order_by(FourEyesRequest.proposed_at).limit(500)).all())  # type: ignore[arg-type]
