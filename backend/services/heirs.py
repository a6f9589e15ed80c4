"""Heirs of a deceased person and the payout of `payable:heirs` to them by bank file."""

from __future__ import annotations

from backend.errors import NotFound
from backend.models import Heir
from backend.services.context import Ctx


def identity(ctx: Ctx, heir_id: str) -> tuple[str, str]:
    """The heir's ID number (opened) and name, for the bank file."""
    heir = ctx.session.get(Heir, heir_id)
    if heir is None:
        raise NotFound(f"no heir {heir_id}")
    return ctx.keyring.decrypt_text(heir.id_number_enc, heir.id), heir.name


def is_flagged(ctx: Ctx, heir_id: str) -> bool:
    heir = ctx.session.get(Heir, heir_id)
    return heir is None or heir.flag is not None


def payee_details(ctx: Ctx, heir_id: str) -> tuple[str, str, str]:
    """Account, ID number and name of the heir, for a bank file."""
    heir = ctx.session.get(Heir, heir_id)
    if heir is None:
        raise NotFound(f"no heir {heir_id}")
    account = ctx.keyring.decrypt_text(heir.bank_account_enc, heir.id)
    return account, *identity(ctx, heir_id)
