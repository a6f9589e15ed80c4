"""What other features do when money moves.

`on_payment_returned` is called once for every person's part of a bank-file line that the bank
returned (services/bank_returns.py), in the same transaction as the reversal: it queues the
"payment returned" SMS (services/notices.py), one per returned part (its event key is the
part). It must not refuse the return import for a notice it cannot queue: a notice without a
phone is kept as `no_recipient`, and the sender retries what the gateway could not take.
"""

from __future__ import annotations

import hashlib

from backend.services import notices
from backend.services.context import Ctx

MAX_REF = 80  # the notice's event key holds the reference


def on_payment_returned(
    ctx: Ctx, person_id: str, *, ref: str, period: str, amount_fen: int
) -> None:
    """A payment to `person_id` came back from the bank (`ref`: the returned part's reference,
    `period`: the bank file's period): tell the pensioner (or their family) once."""
    if amount_fen <= 0:
        return
    if len(ref) > MAX_REF:  # still one key per part, never two parts on one key
        ref = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
    notices.notify_payment_returned(ctx, person_id, ref=ref, period=period, amount_fen=amount_fen)
