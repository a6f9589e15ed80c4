"""Database tables (SQLModel). The schema itself is owned by the Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend import clock

ROLES = ("admin", "clerk", "reviewer", "field_worker", "auditor")
PERSON_STATUSES = ("enrolled", "receiving", "suspended", "terminated", "cancelled", "frozen")
BUCKETS = ("personal", "collective", "other", "government")


def utcnow() -> datetime:
    return clock.now()


def _fen(**kw: Any) -> Any:
    return Field(sa_column=sa.Column(sa.BigInteger, nullable=False, **kw))


if TYPE_CHECKING:
    # SQLModel sets __table__ on every table=True class but does not declare it for type checkers

    class _Table(SQLModel):
        __table__: ClassVar[sa.Table]

else:
    _Table = SQLModel


class Village(_Table, table=True):
    code: str = Field(primary_key=True, max_length=24)
    name: str = Field(max_length=100)
    township: str = Field(default="", max_length=100)
    # the village's location (WGS-84 degrees): "home" for the certification location check
    latitude: float | None = None
    longitude: float | None = None


class AppUser(_Table, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    password_hash: str
    role: str = Field(max_length=20)
    villages: str = Field(default="[]")  # JSON list of village codes (field workers)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Device(_Table, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=10)  # kiosk | field
    location: str = Field(default="", max_length=200)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    # signed captures: the device's Ed25519 public key (base64 of the raw 32 bytes), made on
    # the device; key_id is its SHA-256 (hex), by which a field phone names the key it signs with
    public_key: str | None = Field(default=None, max_length=64)
    key_id: str | None = Field(default=None, max_length=64, index=True, unique=True)


class Person(_Table, table=True):
    __table_args__ = (
        sa.Index(
            "uq_person_active_id_hash",
            "id_hash",
            unique=True,
            sqlite_where=sa.text("status != 'cancelled'"),
            postgresql_where=sa.text("status != 'cancelled'"),
        ),
    )
    id: str = Field(primary_key=True, max_length=32)
    id_hash: str = Field(max_length=64, index=True)
    id_number_enc: bytes = Field(sa_type=sa.LargeBinary)
    old_id_number_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    name: str = Field(max_length=100)
    birth_date: date
    gender: str = Field(max_length=6)
    village_code: str = Field(foreign_key="village.code", max_length=24, index=True)
    # AES-GCM under the county key like the ID number (associated data: the person id)
    phone_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    household_id: str | None = Field(default=None, max_length=40, index=True)
    student: bool = False
    urban_employee_pension: bool = False
    severely_disabled: bool = False
    homebound: bool = False
    enrolled_on: date
    status: str = Field(default="enrolled", max_length=12, index=True)
    frozen_reason: str | None = None
    cancelled_on: date | None = None
    cancel_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class PersonParent(_Table, table=True):
    """A child → parent link, for family binding."""

    __tablename__ = "person_parent"
    person_id: str = Field(foreign_key="person.id", primary_key=True, max_length=32)
    parent_id: str = Field(foreign_key="person.id", primary_key=True, max_length=32, index=True)


class PersonChange(_Table, table=True):
    """History of every change to a person: nothing is overwritten without a trace."""

    __tablename__ = "person_change"
    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    field: str = Field(max_length=40)
    old_value: str | None = None
    new_value: str | None = None
    reason: str = ""
    changed_by: str = Field(default="", max_length=64)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class LedgerAccount(_Table, table=True):
    __tablename__ = "ledger_account"
    __table_args__ = (
        # the database itself refuses a negative person bucket, whatever the code does
        sa.CheckConstraint(
            "NOT no_negative OR credits_posted >= debits_posted", name="ck_account_not_negative"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=80, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=12)  # bucket | fund | source
    person_id: str | None = Field(default=None, foreign_key="person.id", max_length=32, index=True)
    bucket: str | None = Field(default=None, max_length=12)
    # TigerBeetle's debits_must_not_exceed_credits: a person's bucket never goes negative
    no_negative: bool = False
    debits_posted: int = Field(default=0, sa_type=sa.BigInteger)
    credits_posted: int = Field(default=0, sa_type=sa.BigInteger)


class LedgerPosting(_Table, table=True):
    """One business operation: all its transfers commit together or not at all."""

    __tablename__ = "ledger_posting"
    id: str = Field(primary_key=True, max_length=40)
    idempotency_key: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    operation: str = Field(max_length=40, index=True)
    on: date
    person_id: str | None = Field(default=None, max_length=32, index=True)
    reverses: str | None = Field(default=None, max_length=40, sa_column_kwargs={"unique": True})
    memo: str = ""
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class LedgerTransfer(_Table, table=True):
    """An immutable movement of fen from one account (debit) to another (credit)."""

    __tablename__ = "ledger_transfer"
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="ck_transfer_positive"),
        sa.CheckConstraint(
            "debit_account_id != credit_account_id", name="ck_transfer_two_accounts"
        ),
    )
    id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    posting_id: str = Field(foreign_key="ledger_posting.id", max_length=40, index=True)
    debit_account_id: int = Field(foreign_key="ledger_account.id", index=True)
    credit_account_id: int = Field(foreign_key="ledger_account.id", index=True)
    amount_fen: int = Field(sa_type=sa.BigInteger)
    on: date  # value date; scans by date are yearly and set-based, so no index to maintain
    code: str = Field(max_length=30)


class Contribution(_Table, table=True):
    __table_args__ = (
        sa.Index(
            "uq_contribution_person_year_live",
            "person_id",
            "year",
            unique=True,
            sqlite_where=sa.text("reversed_at IS NULL"),
            postgresql_where=sa.text("reversed_at IS NULL"),
        ),
    )
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    year: int
    kind: str = Field(max_length=14)  # normal | back_payment | on_behalf
    tier_fen: int = Field(sa_type=sa.BigInteger)
    personal_fen: int = Field(sa_type=sa.BigInteger)
    collective_fen: int = Field(sa_type=sa.BigInteger)
    other_fen: int = Field(sa_type=sa.BigInteger)
    government_fen: int = Field(sa_type=sa.BigInteger)
    paid_on: date
    posting_id: str = Field(foreign_key="ledger_posting.id", max_length=40)
    reversed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    reversal_posting_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class InterestRun(_Table, table=True):
    __tablename__ = "interest_run"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    posting_id: str = Field(max_length=40)
    accounts: int
    total_fen: int = Field(sa_type=sa.BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class IdempotencyRecord(_Table, table=True):
    """The first answer to a request carrying an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_record"
    scope: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=200)
    request_digest: str = Field(max_length=64)
    status_code: int
    response_json: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class ImportBatch(_Table, table=True):
    __tablename__ = "import_batch"
    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=30)
    digest: str = Field(max_length=64)
    rows: int
    posted: int
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


# --- benefits -----------------------------------------------------------------------------


class Award(_Table, table=True):
    """A pension award at 60: the account pension is fixed here for life."""

    __table_args__ = (
        sa.Index(
            "uq_award_live_person",
            "person_id",
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        ),
    )
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    awarded_on: date
    first_month: str = Field(max_length=7)  # YYYY-MM
    eligibility_group: str = Field(max_length=12)  # already_60 | near | young
    family_binding: bool = False
    contribution_years: int
    account_pension_fen: int = Field(sa_type=sa.BigInteger)
    account_total_at_award_fen: int = Field(sa_type=sa.BigInteger)
    government_at_award_fen: int = Field(sa_type=sa.BigInteger)
    # round(account pension x government bucket / account total), both at award: drawn monthly
    # from the government bucket, the rest from the others
    government_part_fen: int = Field(sa_type=sa.BigInteger)
    # the account the pension is paid into, sealed (person id as associated data); None: the
    # social security card's financial account. The payroll copies these bytes into its lines.
    bank_account_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    # every month up to this one is paid or not owed: a payroll looks only at later months
    settled_through: str = Field(max_length=7)
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Suspension(_Table, table=True):
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    reason: str = Field(
        max_length=30
    )  # certification_lapsed | family_binding | other_pension | investigation | manual
    from_month: str = Field(max_length=7)
    to_month: str | None = Field(
        default=None, max_length=7
    )  # last suspended month, set when lifted
    arrears: bool  # are the suspended months paid back on resumption?
    note: str = ""
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    lifted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    lifted_by: str | None = Field(default=None, max_length=64)
    lift_note: str | None = None


class PayrollRun(_Table, table=True):
    __tablename__ = "payroll_run"
    id: str = Field(primary_key=True, max_length=40)
    period: str = Field(max_length=7, index=True)
    run_on: date
    status: str = Field(default="running", max_length=12)  # running | completed
    paid: int = 0
    total_fen: int = Field(default=0, sa_type=sa.BigInteger)
    suspended: int = 0
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    completed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # four eyes: a second, different admin releases the run to the bank (the bank file)
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class PaidMonth(_Table, table=True):
    """One month of one person's pension, paid once: the unique key is the exactly-once rule."""

    __tablename__ = "paid_month"
    __table_args__ = (sa.UniqueConstraint("person_id", "month", name="uq_paid_month_person_month"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="person.id", max_length=32)
    month: str = Field(max_length=7)
    run_id: str = Field(foreign_key="payroll_run.id", max_length=40)
    basic_fen: int = Field(sa_type=sa.BigInteger)
    account_fen: int = Field(sa_type=sa.BigInteger)
    central_fen: int = Field(sa_type=sa.BigInteger)  # the central government's part of basic_fen
    county_fen: int = Field(sa_type=sa.BigInteger)  # county top-up and long-contribution bonus
    posting_id: str = Field(max_length=40)  # found through the (person, month) key's range
    recovered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class PayrollLine(_Table, table=True):
    """One person in one run: what was paid, and where the account pension was drawn from."""

    __tablename__ = "payroll_line"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "person_id", name="uq_payroll_line_run_person"),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="payroll_run.id", max_length=40)  # indexed by the unique key
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    posting_id: str = Field(max_length=40)
    village_code: str = Field(max_length=24)
    months: int
    basic_fen: int = Field(sa_type=sa.BigInteger)  # this period's basic pension
    account_fen: int = Field(sa_type=sa.BigInteger)  # this period's account pension
    arrears_fen: int = Field(sa_type=sa.BigInteger)  # earlier months paid now
    total_fen: int = Field(sa_type=sa.BigInteger)
    # the account pension of every month paid in this line, by where it was drawn from
    from_government_fen: int = Field(sa_type=sa.BigInteger)
    from_personal_fen: int = Field(sa_type=sa.BigInteger)
    from_collective_fen: int = Field(sa_type=sa.BigInteger)
    from_other_fen: int = Field(sa_type=sa.BigInteger)
    from_pool_fen: int = Field(sa_type=sa.BigInteger)
    # the award's sealed account, copied as is (same ciphertext, same person id as associated
    # data); None: the social security card's financial account
    bank_account_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    status: str = Field(default="paid", max_length=12)


class Death(_Table, table=True):
    """The settlement at the end of entitlement (death, or another pension found). A
    reinstatement reverses it (`reversed_at`); a person has at most one settlement in force."""

    __table_args__ = (
        sa.Index(
            "uq_death_person_in_force",
            "person_id",
            unique=True,
            sqlite_where=sa.text("reversed_at IS NULL"),
            postgresql_where=sa.text("reversed_at IS NULL"),
        ),
    )
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32)
    date_of_death: date  # for other_pension: the day before the other pension started
    source: str = Field(max_length=40)
    reported_on: date
    overpaid_fen: int = Field(sa_type=sa.BigInteger)
    inheritable_fen: int = Field(sa_type=sa.BigInteger)
    offset_fen: int = Field(sa_type=sa.BigInteger)
    paid_to_heirs_fen: int = Field(sa_type=sa.BigInteger)
    returned_to_fund_fen: int = Field(sa_type=sa.BigInteger)
    recovery_due_fen: int = Field(sa_type=sa.BigInteger)
    funeral_grant_fen: int = Field(sa_type=sa.BigInteger)
    owed_months_paid_to_heirs_fen: int = Field(sa_type=sa.BigInteger)
    interest_reversed_fen: int = Field(default=0, sa_type=sa.BigInteger)
    reason: str = Field(default="death", max_length=20)  # death | other_pension
    posting_id: str | None = Field(default=None, max_length=40)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    termination_id: str | None = Field(default=None, max_length=40)
    reversed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    reversal_posting_id: str | None = Field(default=None, max_length=40)


TERMINATION_OPEN = ("pending", "confirmed", "reinstate_pending")


class Termination(SQLModel, table=True):
    """The end of an entitlement as two people decide it (internal control, four eyes).

    pending (reported; payment held) -> confirmed (settled) | rejected (held months paid as
    arrears); confirmed -> reinstate_pending (a reinstatement proposed) -> reinstated (the
    settlement reversed) or back to confirmed (the proposal rejected)."""

    __table_args__ = (
        # one open termination per person: two reports of the same death are one
        sa.Index(
            "uq_termination_person_open",
            "person_id",
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'confirmed', 'reinstate_pending')"),
            postgresql_where=sa.text("status IN ('pending', 'confirmed', 'reinstate_pending')"),
        ),
    )
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    reason: str = Field(max_length=20)  # death | other_pension
    effective_on: date  # the date of death, or the other pension's start
    source: str = Field(max_length=40)
    note: str = ""
    status: str = Field(default="pending", max_length=20, index=True)
    review_case_id: str | None = Field(default=None, max_length=40)
    reported_by: str = Field(max_length=64)
    reported_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    decision_note: str | None = None
    death_id: str | None = Field(default=None, max_length=40)
    reinstate_proposed_by: str | None = Field(default=None, max_length=64)
    reinstate_note: str | None = None
    reinstated_by: str | None = Field(default=None, max_length=64)
    reinstated_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class FourEyesRequest(SQLModel, table=True):
    """A proposed irreversible act waiting for a second, different person: lifting a
    suspension, reversing a contribution, changing a bank account. The row is the history."""

    __tablename__ = "four_eyes_request"
    __table_args__ = (
        sa.Index(
            "uq_four_eyes_pending_subject",
            "kind",
            "subject_id",
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )
    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=30)  # suspension_lift | contribution_reversal | bank_account
    subject_id: str = Field(max_length=40, index=True)  # the suspension, contribution, person
    person_id: str | None = Field(default=None, max_length=32, index=True)
    payload: str = Field(default="{}")  # JSON: what exactly is to be done (accounts masked)
    # the request's full bank account (a bank-account change's new account, a refund's
    # account), sealed with the person id as associated data: the award takes these bytes as is
    account_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    status: str = Field(default="pending", max_length=12)  # pending | confirmed | rejected
    proposed_by: str = Field(max_length=64)
    proposed_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    decision_note: str | None = None
    result: str | None = None  # JSON: the confirmation's answer, replayed to a late twin
    applied_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class RecoveryOrder(_Table, table=True):
    __tablename__ = "recovery_order"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    reason: str = Field(max_length=30)  # death | other_pension
    due_fen: int = Field(sa_type=sa.BigInteger)
    repaid_fen: int = Field(default=0, sa_type=sa.BigInteger)
    status: str = Field(default="open", max_length=10)  # open | settled | cancelled
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


# --- certification, review, receipts, audit ------------------------------------------------


class Certification(_Table, table=True):
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    channel: str = Field(max_length=12)  # award | kiosk | field | counter | data_match | review
    outcome: str = Field(max_length=10)  # passed | referred | failed
    certified_on: date = Field(index=True)
    valid_until: date | None = None
    device_id: str | None = Field(default=None, max_length=40)
    actor: str = Field(default="", max_length=64)
    distance: float | None = None
    liveness_passed: bool | None = None
    reasons: str = Field(default="[]")  # JSON list
    evidence: str = ""
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    challenge_id: str | None = Field(default=None, max_length=40)
    receipt_id: str | None = Field(default=None, max_length=40)
    client_id: str | None = Field(default=None, max_length=80, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    # a failed field check's photo (sealed), for the review case the app opens just after
    captured_photo_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)


class FaceTemplate(_Table, table=True):
    __tablename__ = "face_template"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    template_enc: bytes = Field(sa_type=sa.LargeBinary)
    photo_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    quality: float = 0.0
    active: bool = True
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    # the gallery (biometrics/gallery.py): an enrolment photo or a passed certification's
    # best frame; the photos of one enrolment share its enrolment_id
    source: str = Field(default="enrolment", max_length=16)
    enrolment_id: str | None = Field(default=None, max_length=40, index=True)
    certification_id: str | None = Field(default=None, max_length=40)


class FaceCalibration(_Table, table=True):
    """A county's measured matcher figures (`nongbao faces calibrate --record`): shown to
    reviewers next to each decision, so they read the county's own error rates."""

    __tablename__ = "face_calibration"
    id: str = Field(primary_key=True, max_length=40)
    gallery_size: int = 1
    pass_at: float
    refer_at: float
    fmr_at_pass: float | None = None
    fnmr_at_pass: float | None = None
    fmr_at_refer: float | None = None
    fnmr_at_refer: float | None = None
    images: int = 0
    identities: int = 0
    genuine_pairs: int = 0
    impostor_pairs: int = 0
    target_fmr: float | None = None
    source: str = Field(default="", max_length=255)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Challenge(_Table, table=True):
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    device_id: str = Field(max_length=40, index=True)
    nonce: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    actions: str  # JSON list
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class ReviewCase(_Table, table=True):
    __tablename__ = "review_case"
    # the queue is paged by (created_at, id) from a cursor
    __table_args__ = (sa.Index("ix_review_case_queue", "created_at", "id"),)
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    certification_id: str | None = Field(default=None, max_length=40)
    reasons: str = Field(default="[]")  # JSON list of reason codes
    status: str = Field(default="open", max_length=16, index=True)  # open | pending_second | closed
    decision: str | None = Field(default=None, max_length=16)
    first_reviewer: str | None = Field(default=None, max_length=64)
    first_note: str | None = None
    second_reviewer: str | None = Field(default=None, max_length=64)
    second_note: str | None = None
    # a terminate decision: why (death | other_pension) and from when, as the first reviewer
    # proposed it, so that the second reviewer confirms exactly that
    terminate_reason: str | None = Field(default=None, max_length=20)
    effective_on: date | None = None
    captured_photo_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Receipt(_Table, table=True):
    id: str = Field(primary_key=True, max_length=40)
    person_id: str | None = Field(default=None, foreign_key="person.id", max_length=32, index=True)
    what: str = Field(max_length=40)
    issued_on: date
    code: str  # the signed text in the QR code
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class AuditEvent(_Table, table=True):
    """Append-only, hash-chained: each event's hash covers the previous one."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    actor: str = Field(max_length=80)
    role: str = Field(max_length=20)
    device_id: str | None = Field(default=None, max_length=40)
    action: str = Field(max_length=80)
    subject: str = Field(default="", max_length=80)
    before_digest: str = Field(default="", max_length=64)
    after_digest: str = Field(default="", max_length=64)
    # chained by the sealer (backend/services/audit.py); "" until then
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)
    # RFC 6962 leaf hash of the canonical event, computed at append (no lock, no predecessor)
    leaf_hash: str = Field(default="", max_length=64)
    # set by the sealer: the event's place in the sealed log (1, 2, ... without gaps) and batch
    seq: int | None = Field(default=None, sa_type=sa.BigInteger, index=True, unique=True)
    batch_id: int | None = Field(default=None, index=True)


class AuditBatch(_Table, table=True):
    """A sealed batch of audit events: its signed head (also appended to the head file)."""

    __tablename__ = "audit_batch"
    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(sa_type=sa.BigInteger)  # events in this batch
    first_seq: int = Field(sa_type=sa.BigInteger)
    last_seq: int = Field(sa_type=sa.BigInteger)
    root: str = Field(max_length=64)  # RFC 6962 Merkle tree hash of the batch's leaves
    prev_head: str = Field(max_length=64)  # head_hash of the batch before
    head_hash: str = Field(max_length=64)
    head: str = Field(sa_type=sa.Text)  # the signed head as written to the head file
    sealed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


ARCHIVE_KINDS = (
    "application_form",
    "death_certificate",
    "review_evidence",
    "field_attestation",  # a field visit's attestation and note (a one-page PDF)
    "field_document",  # a document photographed on a field visit
    "other",
)


class ArchiveDocument(_Table, table=True):
    """A document attached to a person. The bytes live outside the database, encrypted and
    content-addressed by the sha256 of the plaintext (one blob for identical content); rows
    are never deleted, only marked `deleted_at` when disposed of under the retention policy."""

    __tablename__ = "archive_document"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    kind: str = Field(max_length=20)  # one of ARCHIVE_KINDS
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=40)
    sha256: str = Field(max_length=64, index=True)
    size: int
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    retain_until: date = Field(index=True)
    deleted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class LoginAttempt(SQLModel, table=True):
    """One sign-in attempt, written (as `pending`) before the password is checked: every
    worker counts the same attempts, parallel ones too (see backend/services/login_limits.py)."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_username_started", "username", "started_at"),
        sa.Index("ix_login_attempt_client_started", "client", "started_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)  # as typed (cut to 64): unknown names count too
    client: str = Field(max_length=64)  # the client address (X-Forwarded-For only from a proxy)
    started_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    outcome: str = Field(default="pending", max_length=10)  # pending | failed | ok
    cleared: bool = False  # an admin unlocked the account: the attempt no longer counts


class RateHit(SQLModel, table=True):
    """One request of a rate-limited kind by one caller (a device or a user), counted by every
    worker alike: certification submissions and kiosk resident sessions per minute."""

    __tablename__ = "rate_hit"
    __table_args__ = (sa.Index("ix_rate_hit_bucket_subject_at", "bucket", "subject", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    bucket: str = Field(max_length=40)
    subject: str = Field(max_length=80)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


class EndedKioskSession(SQLModel, table=True):
    """A resident session the kiosk closed before it expired: its token is refused from then
    on. A row is needed only until `expires_at`, when the token is refused anyway."""

    __tablename__ = "ended_kiosk_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    device_id: str = Field(max_length=40)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


# --- money out: bank files, returns, re-issues, heirs (docs/payments.md) ---------------------


class Disbursement(_Table, table=True):
    """One bank file: the lines of a payroll run, of re-issues or of heirs, for one agency
    bank. Frozen when first written, so the file is the same every time it is fetched."""

    __tablename__ = "disbursement"
    id: str = Field(primary_key=True, max_length=40)
    # payroll:{run}:{bank} | reissue:{id} | heirs:{id}: one batch per natural key
    natural_key: str = Field(max_length=120, unique=True)
    kind: str = Field(max_length=12)  # payroll | reissue | heirs | refund
    run_id: str | None = Field(default=None, max_length=40, index=True)
    bank_code: str = Field(max_length=16)
    period: str = Field(max_length=7)
    count: int
    persons: int
    total_fen: int = Field(sa_type=sa.BigInteger)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class DisbursementItem(_Table, table=True):
    """One line of a bank file: one account, one amount (a couple may share an account)."""

    __tablename__ = "disbursement_item"
    __table_args__ = (sa.UniqueConstraint("disbursement_id", "seq", name="uq_disb_item_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    disbursement_id: str = Field(foreign_key="disbursement.id", max_length=40)
    seq: int
    # the account as sent, sealed under the first payee's person id (like the ID number)
    account_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    ssc: bool = False  # paid to the social security card's financial account, found by ID
    seal_person_id: str = Field(max_length=32)
    amount_fen: int = Field(sa_type=sa.BigInteger)
    persons: int
    status: str = Field(default="sent", max_length=12)  # sent | paid | returned
    reason: str | None = Field(default=None, max_length=30)
    bank_reason: str | None = Field(default=None, max_length=200)
    return_file_id: str | None = Field(default=None, max_length=40)


class DisbursementPart(_Table, table=True):
    """One person's money in a bank-file line, and where it came from; a returned part is
    re-issued by exactly one later part (`source_ref` = the returned part's id, unique)."""

    __tablename__ = "disbursement_part"
    __table_args__ = (sa.UniqueConstraint("source", "source_ref", name="uq_disb_part_source"),)
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="disbursement_item.id", index=True)
    disbursement_id: str = Field(max_length=40, index=True)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    run_id: str | None = Field(default=None, max_length=40, index=True)  # whose money it is
    source: str = Field(max_length=12)  # payroll | reissue | heirs | refund
    source_ref: str = Field(max_length=64)
    payee: str = Field(default="", max_length=64)  # heir id when paid to an heir
    amount_fen: int = Field(sa_type=sa.BigInteger)
    payout_account: str = Field(max_length=40)  # the ledger account that records it paid out
    status: str = Field(default="sent", max_length=12)  # sent | paid | returned
    return_posting_id: str | None = Field(default=None, max_length=40)
    reissued_by: int | None = None  # the part that re-issued this returned one
    # returned because the holder died: settled to the estate (heirs, recovery) once the death
    # is confirmed, by this posting; never re-issued then
    estate_posting_id: str | None = Field(default=None, max_length=40)


class BankReturnFile(_Table, table=True):
    """A return file (回盘) imported once: the same file again changes nothing."""

    __tablename__ = "bank_return_file"
    __table_args__ = (sa.UniqueConstraint("disbursement_id", "sha256", name="uq_bank_return_sha"),)
    id: str = Field(primary_key=True, max_length=40)
    disbursement_id: str = Field(foreign_key="disbursement.id", max_length=40)
    sha256: str = Field(max_length=64)
    paid: int
    returned: int
    paid_fen: int = Field(sa_type=sa.BigInteger)
    returned_fen: int = Field(sa_type=sa.BigInteger)
    imported_by: str = Field(default="", max_length=64)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class PayeeAccount(_Table, table=True):
    """Where a person's money can go: the state of the social security card's financial
    account, and the flag a bank return raises until the account is fixed."""

    __tablename__ = "payee_account"
    person_id: str = Field(foreign_key="person.id", max_length=32, primary_key=True)
    ssc_state: str = Field(default="active", max_length=12)  # active | inactive | closed
    flag: str | None = Field(default=None, max_length=30)  # the bank's reason, while unfixed
    flag_ref: str | None = Field(default=None, max_length=64)
    flagged_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # a returned refund is re-issued here (not the card's account) once a second person
    # confirmed the corrected account; a proposed one waits in `pending_account_enc`
    reissue_account_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    pending_account_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    updated_by: str = Field(default="", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Heir(_Table, table=True):
    """An heir of a deceased person: a share (in basis points) of what `payable:heirs` holds."""

    __tablename__ = "heir"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    name: str = Field(max_length=60)
    id_number_enc: bytes = Field(sa_type=sa.LargeBinary)
    id_number_hash: str = Field(max_length=64)
    share_bp: int  # basis points of the payable; a person's heirs add up to 10000
    bank_account_enc: bytes = Field(sa_type=sa.LargeBinary)
    flag: str | None = Field(default=None, max_length=30)  # a bank return, until fixed
    # a new account waits here for a second person's confirmation (four eyes)
    pending_account_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    pending_by: str | None = Field(default=None, max_length=64)
    pending_reason: str | None = Field(default=None, max_length=200)
    # four eyes: the heirs a clerk records are paid only once a second person confirms them
    confirmed_by: str | None = Field(default=None, max_length=64)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class TransferDocument(_Table, table=True):
    """转移接续: the document an account closes with when its member moves to another county
    (direction `out`), or the one a county opened balances from (`in`). The JSON holds the full
    ID number, so it is sealed under the person id; its sha256 names the document."""

    __tablename__ = "transfer_document"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    direction: str = Field(max_length=4)  # out | in
    county: str = Field(max_length=120)  # where it goes to, or comes from
    total_fen: int = Field(sa_type=sa.BigInteger)
    document_enc: bytes = Field(sa_type=sa.LargeBinary)
    sha256: str = Field(max_length=64, unique=True)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


# --- notices (SMS outbox) and family contacts ----------------------------------------------

NOTICE_KINDS = ("cert_due", "cert_overdue", "suspended", "resumed_arrears", "payment_returned")
# pending -> sending -> sent -> delivered | failed; no_recipient: no phone known;
# rejected: the gateway refused the number for good
NOTICE_STATUSES = (
    "pending",
    "sending",
    "sent",
    "delivered",
    "failed",
    "rejected",
    "no_recipient",
)


class FamilyContact(_Table, table=True):
    """A pensioner's registered family member, who may receive the pensioner's notices."""

    __tablename__ = "family_contact"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    name: str = Field(max_length=100)
    relation: str = Field(max_length=20)
    phone_enc: bytes = Field(sa_type=sa.LargeBinary)  # sealed; associated data: this id
    receives_notices: bool = False  # notices go to this number instead of the pensioner's
    # keyed lookup hash of the number (purpose "family_phone"): how a signed-in phone
    # finds the pensioners it may certify (亲情认证) without the number in clear
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    active: bool = True
    created_by: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class SmsNotice(_Table, table=True):
    """One SMS notice in the outbox; event_key is unique: one notice per event, ever."""

    __tablename__ = "sms_notice"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    kind: str = Field(max_length=30)
    event_key: str = Field(max_length=120, sa_column_kwargs={"unique": True})
    recipient: str = Field(max_length=60)  # "self" | "family:<contact id>" | "none"
    phone_enc: bytes | None = Field(default=None, sa_type=sa.LargeBinary)  # AD: this id
    text: str
    status: str = Field(default="pending", max_length=12, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)
    message_id: str | None = Field(default=None, max_length=100, index=True)
    claimed_by: str | None = Field(default=None, max_length=60)
    claimed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    delivered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


# --- scored silent certification ------------------------------------------------------------

SILENT_LEVELS = ("strong", "medium", "weak", "hold")


class EvidenceImport(_Table, table=True):
    """One imported evidence file; its digest (of source and bytes) is unique."""

    __tablename__ = "evidence_import"
    id: str = Field(primary_key=True, max_length=40)
    source: str = Field(max_length=30)
    digest: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    rows: int
    new_evidence: int
    summary: str = "{}"  # JSON: what the import answered, answered again to a repeat
    created_by: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class SilentEvidence(_Table, table=True):
    """One trace of a person from a source (a hospital visit, a cremation record)."""

    __tablename__ = "silent_evidence"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    source: str = Field(max_length=30)
    observed_on: date
    reference: str = Field(max_length=100)
    row_key: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    import_id: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class SilentResult(_Table, table=True):
    """A person's score after an import, and which evidence counted (JSON)."""

    __tablename__ = "silent_result"
    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    import_id: str = Field(max_length=40)
    level: str = Field(max_length=12)  # one of SILENT_LEVELS
    score: int
    explanation: str = "[]"
    certification_id: str | None = Field(default=None, max_length=40)
    review_case_id: str | None = Field(default=None, max_length=40)
    evaluated_on: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


# --- grievances (申诉/信访) -------------------------------------------------------------------

GRIEVANCE_CATEGORIES = ("suspension", "termination", "payment", "certification", "other")
GRIEVANCE_DECISIONS = ("suspension", "termination", "certification", "review_case")


class Grievance(_Table, table=True):
    """A resident's complaint about a decision: open until resolved (upheld or not upheld)."""

    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    category: str = Field(max_length=20)  # one of GRIEVANCE_CATEGORIES
    decision_kind: str | None = Field(default=None, max_length=20)  # GRIEVANCE_DECISIONS
    decision_id: str | None = Field(default=None, max_length=40)
    description: str
    source: str = Field(max_length=12)  # staff | kiosk
    # what it came from: a kiosk help request's reference (linked when that table exists), a
    # letter's number (信访件编号)
    source_ref: str | None = Field(default=None, max_length=80)
    received_on: date
    due_on: date = Field(index=True)
    assignee: str | None = Field(default=None, max_length=64)
    status: str = Field(default="open", max_length=12, index=True)  # open | resolved
    resolution: str | None = None
    outcome: str | None = Field(default=None, max_length=12)  # upheld | not_upheld
    resolved_on: date | None = None
    resolved_by: str | None = Field(default=None, max_length=80)
    created_by: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class FamilyCode(_Table, table=True):
    """A one-time SMS sign-in code for a family phone (only its hash is kept)."""

    __tablename__ = "family_code"
    id: str = Field(primary_key=True, max_length=40)
    phone_hash: str = Field(max_length=64, index=True)
    code_hash: str = Field(max_length=64)
    attempts: int = 0
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class FamilyPhone(_Table, table=True):
    """A family phone's current sign-in: the browser device (kind "family") holding its key."""

    __tablename__ = "family_phone"
    phone_hash: str = Field(primary_key=True, max_length=64)
    device_id: str | None = Field(default=None, foreign_key="device.id", max_length=40, index=True)
    signed_in_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class KioskHelpRequest(SQLModel, table=True):
    """A resident at a kiosk pressed 请工作人员帮忙: staff see it on the console's list.
    No personal data: the kiosk, where it stands, and the screen the person was on."""

    __tablename__ = "kiosk_help_request"
    id: str = Field(primary_key=True, max_length=40)
    device_id: str = Field(max_length=40, index=True)
    location: str = Field(default="", max_length=200)
    screen: str = Field(default="", max_length=40)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True
    )
    handled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
