"""Cancellation refund (注销退费): a cancelled member's account closes. What the member and
the village paid in (the personal, collective and other buckets) goes to the member by bank
file; the government bucket goes back to the pooled fund (DOMAIN.md), so no balance is left
stranded and earning interest. The refund is made once (its postings are keyed by person)."""

from __future__ import annotations

import re
from typing import Any

from backend import ledger
from backend.errors import Conflict, RuleRefused, field_error
from backend.ledger import Transfer
from backend.services import audit, bank_files, registry
from backend.services.context import Ctx

TO_MEMBER = ("personal", "collective", "other")
BANK_ACCOUNT = re.compile(r"^[0-9 -]{8,40}$")


def check_request(ctx: Ctx, person_id: str, bank_account: str, bank_code: str | None) -> None:
    """What a refund request must satisfy before it is proposed (four_eyes.propose_refund)."""
    _check(ctx, person_id, bank_account, bank_code)


def _check(ctx: Ctx, person_id: str, bank_account: str, bank_code: str | None) -> Any:
    person = registry.lock(ctx, person_id)
    if person.status != "cancelled":
        raise RuleRefused("only a cancelled member's account is refunded")
    if bank_account and not BANK_ACCOUNT.match(bank_account):
        raise field_error("bank_account", "8 to 40 digits, spaces or dashes")
    buckets = ledger.person_buckets(ctx.session, person_id)
    if all(v <= 0 for v in buckets.values()):
        raise Conflict("the account is empty: nothing (more) to refund", code="nothing_to_refund")
    bank_files.banks().get(bank_code)  # an unknown bank is refused before anything moves
    return person


def refund(ctx: Ctx, person_id: str, bank_account: str, bank_code: str | None) -> dict[str, Any]:
    person = _check(ctx, person_id, bank_account, bank_code)
    buckets = ledger.person_buckets(ctx.session, person_id)
    to_member = {b: buckets[b] for b in TO_MEMBER if buckets[b] > 0}
    government = buckets["government"]
    layout = bank_files.banks().get(bank_code)
    on = ctx.today
    ledger.ensure_fund_accounts(ctx.session)
    if government > 0:  # back to the pool whatever the bank later says of the member's part
        ledger.post(
            ctx.session,
            idempotency_key=f"refund:government:{person_id}",
            operation="cancellation_refund",
            on=on,
            transfers=[
                Transfer(
                    ledger.bucket_code(person_id, "government"),
                    "fund:pool",
                    government,
                    "refund_to_fund",
                )
            ],
            person_id=person_id,
            memo="cancellation: the government bucket back to the pooled fund",
            created_by=ctx.actor.label,
        )
    batch_id = None
    if to_member:
        draft = bank_files.Draft(
            person_id=person_id,
            account=bank_account,
            id_number=ctx.keyring.decrypt_text(person.id_number_enc, person.id),
            name=person.name,
            amount_fen=sum(to_member.values()),
            source="refund",
            source_ref=person_id,
            payout_account="payout:refunds",
            transfers=[
                Transfer(
                    ledger.bucket_code(person_id, b), "payout:refunds", fen, "cancellation_refund"
                )
                for b, fen in to_member.items()
            ],
        )
        key = f"refund:{person_id}"
        batch_id = bank_files.freeze(
            ctx, key, "refund", layout.code, on.isoformat()[:7], [draft]
        ).id
    out = {
        "person_id": person_id,
        "to_member_fen": sum(to_member.values()),
        "to_fund_fen": max(government, 0),
        "disbursement_id": batch_id,
    }
    audit.record(ctx, "refund.cancellation", person_id, after=out)
    return out
