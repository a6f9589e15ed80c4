"""Contributions with the automatic government subsidy, corrections, and the account view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from backend import ledger
from backend.errors import Conflict, NotFound, RuleRefused, field_error
from backend.ledger import Transfer, bucket_code
from backend.models import (
    Contribution,
    LedgerAccount,
    LedgerPosting,
    LedgerTransfer,
    Person,
    utcnow,
)
from backend.rules import contributions as rule
from backend.services import registry
from backend.services.context import Ctx

KINDS = rule.KINDS
PAYING_STATUSES = ("enrolled",)


@dataclass
class ContributionRequest:
    person_id: str
    year: int
    personal_fen: int
    paid_on: date
    kind: str = "normal"
    collective_fen: int = 0
    other_fen: int = 0


@dataclass
class Posted:
    contribution: Contribution
    balance_fen: int


def pay(ctx: Ctx, req: ContributionRequest) -> Posted:
    person = registry.lock(ctx, req.person_id)
    _check(ctx, person, req)
    tier, subsidy, transfers = _transfers(ctx, person.id, req)
    contribution = Contribution(
        id=ledger.new_id("con")[:40],
        person_id=person.id,
        year=req.year,
        kind=req.kind,
        tier_fen=tier,
        personal_fen=req.personal_fen,
        collective_fen=req.collective_fen,
        other_fen=req.other_fen,
        government_fen=rule.government_fen(req.kind, tier, subsidy),
        paid_on=req.paid_on,
        posting_id="",
    )
    if ctx.session.exec(
        select(Contribution.id).where(
            Contribution.person_id == person.id,
            Contribution.year == req.year,
            col(Contribution.reversed_at).is_(None),
        )
    ).first():
        raise Conflict(
            f"a contribution for {req.year} is already recorded; reverse it first to correct it"
        )
    result = ledger.post(
        ctx.session,
        idempotency_key=f"contribution:{contribution.id}",
        operation=f"contribution:{req.kind}",
        on=req.paid_on,
        transfers=transfers,
        person_id=person.id,
        created_by=ctx.actor.label,
    )
    contribution.posting_id = result.posting_id
    ctx.session.add(contribution)
    ctx.session.flush()
    return Posted(contribution, sum(ledger.person_buckets(ctx.session, person.id).values()))


def _check(ctx: Ctx, person: Person, req: ContributionRequest) -> None:
    if person.status not in PAYING_STATUSES:
        raise RuleRefused(f"contributions are not accepted: the person is {person.status}")
    if req.kind not in KINDS:
        raise field_error("kind", f"kind must be one of {', '.join(KINDS)}")
    if req.paid_on > ctx.today:
        raise field_error("paid_on", "the payment date is in the future")
    start = ctx.policy.scheme_start
    if req.paid_on < start:
        raise field_error("paid_on", f"the scheme started on {start.isoformat()}")
    if req.year < start.year:
        raise field_error("year", f"{req.year} is before the scheme started ({start.year})")
    if req.year > req.paid_on.year:
        raise field_error(
            "year",
            f"a payment made on {req.paid_on.isoformat()} cannot be for the later year {req.year}",
        )
    if req.kind == "back_payment" and req.year == req.paid_on.year:
        raise field_error(
            "kind",
            f"a back payment is for a past year; {req.year} is the current year: use kind normal",
        )
    if req.kind != "back_payment" and req.year != req.paid_on.year:
        raise field_error(
            "kind", f"{req.year} is a past year on {req.paid_on.isoformat()}: use kind back_payment"
        )
    last_year = rule.last_contribution_year(ctx.policy, person.birth_date)
    if req.year > last_year:
        raise RuleRefused(
            f"contributions run up to the year before the {ctx.policy.pension_age}th birthday ({last_year})"
        )
    pset = ctx.policy.set_on(req.paid_on)
    if req.kind == "on_behalf":
        if not person.severely_disabled:
            raise RuleRefused(
                "paid on behalf is only for residents registered as severely disabled or a similar group"
            )
        if req.personal_fen != 0:
            raise field_error(
                "personal_fen",
                "paid on behalf: the county pays the lowest tier, personal_fen must be 0",
            )
    elif req.personal_fen not in pset.tiers_fen:
        tiers = ", ".join(str(t // 100) for t in pset.tiers_fen)
        raise field_error(
            "personal_fen",
            f"{req.personal_fen} fen is not a tier of the {pset.name} policy; tiers in yuan: {tiers}",
        )


def _transfers(
    ctx: Ctx, person_id: str, req: ContributionRequest
) -> tuple[int, int, list[Transfer]]:
    on = req.paid_on
    transfers: list[Transfer] = []
    tier = rule.tier_fen(ctx.policy, req.kind, req.personal_fen, on)
    if req.kind == "on_behalf":
        transfers.append(
            Transfer(
                "fiscal:county:on_behalf",
                bucket_code(person_id, "government"),
                tier,
                "on_behalf",
                on,
            )
        )
    else:
        transfers.append(
            Transfer(
                "source:personal", bucket_code(person_id, "personal"), tier, "contribution", on
            )
        )
    for source, bucket, amount in (
        ("source:collective", "collective", req.collective_fen),
        ("source:other", "other", req.other_fen),
    ):
        if amount:
            transfers.append(
                Transfer(source, bucket_code(person_id, bucket), amount, "contribution", on)
            )
    subsidy = rule.subsidy_fen(ctx.policy, req.kind, tier, on)
    for level, amount in ctx.policy.split_subsidy(subsidy).items():
        if amount:
            transfers.append(
                Transfer(
                    f"fiscal:{level}:subsidy",
                    bucket_code(person_id, "government"),
                    amount,
                    "subsidy",
                    on,
                )
            )
    return tier, subsidy, transfers


def reverse(ctx: Ctx, contribution_id: str, reason: str) -> Contribution:
    if not reason.strip():
        raise field_error("reason", "a correction needs a reason")
    contribution = _claim_reversal(ctx, contribution_id)
    result = ledger.reverse(
        ctx.session,
        contribution.posting_id,
        on=ctx.today,
        idempotency_key=f"reversal:{contribution.posting_id}",
        memo=reason,
        created_by=ctx.actor.label,
    )
    contribution.reversal_posting_id = result.posting_id
    ctx.session.add(contribution)
    return contribution


def _claim_reversal(ctx: Ctx, contribution_id: str) -> Contribution:
    """Mark the contribution reversed, or refuse: one conditional UPDATE decides the single
    winner among parallel callers (PostgreSQL re-checks the condition after the first commits;
    SQLite's writers are serialised by BEGIN IMMEDIATE), so exactly one is told "reversed", one
    reversal is posted and one audit event written; the others get 409 `already_reversed`."""
    c = Contribution.__table__.c
    claimed = ctx.session.execute(
        sa.update(Contribution.__table__)  # type: ignore[attr-defined]
        .where(c.id == contribution_id, c.reversed_at.is_(None))
        .values(reversed_at=utcnow())
    ).rowcount
    contribution = ctx.session.get(Contribution, contribution_id)
    if contribution is None:
        raise NotFound(f"no contribution {contribution_id}")
    if claimed != 1:
        raise Conflict("this contribution has already been reversed", code="already_reversed")
    ctx.session.refresh(contribution)
    return contribution


def list_for(ctx: Ctx, person_id: str) -> list[Contribution]:
    registry.get(ctx, person_id)
    return list(
        ctx.session.exec(
            select(Contribution)
            .where(Contribution.person_id == person_id)
            .order_by(col(Contribution.year), col(Contribution.created_at))
        ).all()
    )


def account(ctx: Ctx, person_id: str) -> dict[str, object]:
    """Buckets and every entry of the person's account, oldest first."""
    registry.get(ctx, person_id)
    return account_of(ctx.session, person_id)


def account_of(session: Session, person_id: str) -> dict[str, object]:
    """The account's buckets and entries (no checks: the caller has found the person)."""
    buckets = ledger.person_buckets(session, person_id)
    t = LedgerTransfer.__table__.c
    a = LedgerAccount.__table__.c
    p = LedgerPosting.__table__.c
    sign = sa.case((a.id == t.credit_account_id, t.amount_fen), else_=-t.amount_fen)
    rows = session.execute(
        sa.select(
            t.on, t.code, a.bucket, sign.label("amount"), p.operation, p.id.label("posting_id")
        )
        .select_from(LedgerTransfer.__table__)
        .join(
            LedgerAccount.__table__, sa.or_(a.id == t.credit_account_id, a.id == t.debit_account_id)
        )
        .join(LedgerPosting.__table__, p.id == t.posting_id)
        .where(a.person_id == person_id)
        .order_by(t.on, t.id)
    ).all()
    entries = [
        {
            "on": r.on,
            "kind": r.code,
            "bucket": r.bucket,
            "amount_fen": int(r.amount),
            "operation": r.operation,
            "posting_id": r.posting_id,
        }
        for r in rows
    ]
    return {
        "person_id": person_id,
        "balance_fen": sum(buckets.values()),
        "buckets": {f"{b}_fen": v for b, v in buckets.items()},
        "entries": entries,
    }
