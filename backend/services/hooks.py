"""Hooks other features may fill in later.

`on_payment_returned` is called once for every person's part of a bank-file line that the bank
returned (services/bank_returns.py), in the same transaction as the reversal. It is a no-op
today: the notices feature (letters and SMS to the pensioner or village) is meant to hook in
here; it must not raise for a notice it cannot send, or the return import would be refused.
"""

from __future__ import annotations

from backend.services.context import Ctx


def on_payment_returned(
    ctx: Ctx, person_id: str, *, ref: str, period: str, amount_fen: int
) -> None:
    """A payment to `person_id` came back from the bank (`ref`: the returned part's reference,
    `period`: the bank file's period). No-op: nothing listens yet."""
    _ = (ctx, person_id, ref, period, amount_fen)
