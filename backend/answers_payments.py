"""Response models of the money-out routes (docs/payments.md): bank return files, a run's
reconciliation, disbursement batches (re-issues, heirs' payouts), a person's payee account,
heirs, the four-eyes proposals of a refund or a transfer out, and the transfer document.

What the services return and the OpenAPI declares (pure pydantic, like backend/answers.py).
Field names and shapes are the answers' as they were when they were dicts: clients rely on
them. Dates and times travel as ISO text, as they did.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# --- bank return files and reconciliation ------------------------------------------------------


class ReturnImportOut(BaseModel):
    """POST /payroll-runs/{run_id}/returns, /disbursements/{id}/returns: one return file
    (回盘) imported; the same file again is `replayed` and changes nothing (0 lines)."""

    return_id: str
    disbursement_id: str
    sha256: str
    paid: int
    returned: int
    paid_fen: int
    returned_fen: int
    changed_lines: int = 0
    replayed: bool


class ReconciliationLineOut(BaseModel):
    person_id: str
    amount_fen: int
    # not_sent | sent | paid | returned | reissued | reissued_paid
    status: str
    reason: str | None  # the return's reason code, of the last returned part
    bank_reason: str | None  # ... and the bank's own text for it
    paid_fen: int
    reissued_fen: int
    to_estate_fen: int  # returned for a holder whose death is confirmed: to heirs or recovery
    outstanding_fen: int


class ReconciliationOut(BaseModel):
    """GET /payroll-runs/{run_id}/reconciliation (帐实相符): sent = paid + outstanding."""

    run_id: str
    period: str
    sent_fen: int
    paid_fen: int
    returned_fen: int
    reissued_fen: int
    to_estate_fen: int
    outstanding_fen: int
    lines: list[ReconciliationLineOut]


class DisbursementOut(BaseModel):
    """A bank file's batch: its lines are fetched as GET /disbursements/{id}/bank-file."""

    disbursement_id: str
    kind: str  # payroll | reissue | heirs | refund
    bank: str
    count: int
    persons: int
    total_fen: int


class PayeeOut(BaseModel):
    """Where a person's money can go: the card account's state and a bank return's flag."""

    person_id: str
    ssc_state: str  # active | inactive | closed
    flag: str | None  # the bank's reason, until the account is fixed
    flagged_at: str | None


# --- heirs -------------------------------------------------------------------------------------


class HeirOut(BaseModel):
    """An heir as staff see it: ID number and account masked."""

    heir_id: str
    name: str
    id_number: str
    share_bp: int
    bank_account: str
    flag: str | None
    confirmed_by: str | None
    pending_account: bool  # a new account waits for a second person


class HeirsOut(BaseModel):
    person_id: str
    heirs: list[HeirOut]


class HeirsOwedOut(BaseModel):
    """GET /persons/{person_id}/heirs: the heirs, and what `payable:heirs` holds for them."""

    person_id: str
    owed_fen: int
    heirs: list[HeirOut]


# --- refund and transfer out: proposed, confirmed by a second person ---------------------------


class ApprovalOut(BaseModel):
    """A four-eyes request (services/four_eyes.py): `payload` is what exactly is to be done,
    its keys by `kind`. (The same answer as POST /approvals/{id}/confirm's request.)"""

    request_id: str
    kind: str
    subject_id: str
    person_id: str | None
    status: str  # pending | confirmed | rejected
    proposed_by: str
    proposed_at: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None
    payload: dict[str, Any]
    applied: bool


class TransferPersonOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id_number: str  # in full: the document is for the receiving county
    name: str
    birth_date: str | None = None
    gender: str | None = None
    enrolled_on: str | None = None


class TransferDocumentOut(BaseModel):
    """A transfer document (format `nongbao-transfer/1`), as sealed: `sha256` is of the
    canonical JSON of the rest (services/transfers.seal). A document received from another
    county is kept as it came, fields this format does not name included."""

    model_config = ConfigDict(extra="allow")

    format: str
    from_county: str
    to_county: str
    issued_on: str
    person: TransferPersonOut
    buckets_fen: dict[str, int]
    total_fen: int
    posting_id: str | None = None
    sha256: str
    signing_key_id: str | None = None  # the county key that signed it (receipts.public_key_id)
    signature: str | None = None  # Ed25519 over the canonical JSON of all but itself
