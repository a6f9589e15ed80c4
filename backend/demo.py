"""The demo county: a realistic county of ~10,000 residents made from a seed, in seconds.

What it holds: villages in three townships; households of parents and their children, linked
for family binding; contributions every year since the scheme start across the tiers of the
policy set in force (collective and other subsidies for some, paid on behalf for the severely
disabled, some contributors who lapsed); interest for every year; pensioners with awards
(already 60 at the scheme start, and those who turned 60 since); the payroll history of the
last two years run by the real payroll service; a few deaths settled by the real settlement
service; some certifications lapsed or due; a few review cases; demo users and a kiosk.

Speed: the years of contributions and interest are computed in Python from the seed and
written with set-based inserts (like backend/synth.py), each contribution with its own
posting, then every account's running totals are recomputed from its transfers in one
statement, so `nongbao ledger check` holds. Payroll, deaths, users and devices go through
the services, as they would in a county.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backend import clock, ledger, months
from backend.crypto import Keyring, load_keyring
from backend.db import engine_for, session_scope, upgrade
from backend.idnumber import check_char
from backend.models import (
    Award,
    Certification,
    Contribution,
    LedgerAccount,
    LedgerPosting,
    LedgerTransfer,
    Person,
    PersonParent,
    ReviewCase,
    Village,
)
from backend.policy import Policy, load_policy
from backend.rules import award as award_rule
from backend.rules import certification as certification_rule
from backend.rules import contributions as contribution_rule
from backend.rules import interest as interest_rule
from backend.services.context import Actor, Ctx

# the second pair of eyes of the demo's history (payroll approvals, death confirmations)
DEMO_CHECKER = Actor("user", "demo-checker", "admin")
REGION = "510722"  # a county code of a western province: the default policy's region class
MARKER_VILLAGE = "DV01"
FIELD_VILLAGES = 4  # the demo field worker's villages: the first four
INFO_FILE = "demo.json"
PASSWORDS = {
    "admin": "admin-demo",
    "clerk": "clerk-demo",
    "reviewer": "reviewer-demo",
    "field_worker": "field-demo",
    "auditor": "auditor-demo",
}
TOWNSHIPS = {
    "城关镇": ["东街村", "西街村", "南关村", "北关村"],
    "青山乡": ["青山村", "石桥村", "柳湾村", "杨家坪村"],
    "河口镇": ["河口村", "沙坝村", "白鹤村", "新华村"],
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "秀英桂兰玉珍凤芳华明国建军平志强文勇伟海春秋红梅霞丽敏静德成富贵福永兴荣发清林山水云龙凤娟燕婷杰涛斌鹏飞宇浩然俊杰子涵欣怡"
DEMO_RESIDENT = "王秀兰"
BATCH = 20_000
# months of payroll history run through the real payroll service (earlier months count as settled)
PAYROLL_MONTHS = 6


@dataclass
class DemoInfo:
    data_dir: str
    database_url: str
    created: bool
    seconds: float
    residents: int = 0
    pensioners: int = 0
    contributions: int = 0
    payroll_runs: int = 0
    deaths: int = 0
    users: dict[str, str] = field(default_factory=dict)
    kiosk_device_id: str = ""
    kiosk_token: str = ""
    demo_person_id: str = ""
    demo_person_name: str = DEMO_RESIDENT
    demo_id_number: str = ""
    face_enrolled: bool = False
    face_note: str = ""


@dataclass
class Resident:
    pid: str
    name: str
    birth: date
    gender: str
    village: str
    household: str
    enrolled_on: date
    parents: list[str] = field(default_factory=list)
    disabled: bool = False
    lapsed_after: int | None = None
    collective_fen: int = 0
    other_fen: int = 0
    tier_rank: int = 0  # 0 = lowest tier; higher = a richer household
    number: str = ""
    award: dict | None = None
    balances: dict[str, int] = field(
        default_factory=lambda: {"personal": 0, "collective": 0, "other": 0, "government": 0}
    )


# --- the people ---------------------------------------------------------------------------


class Generator:
    def __init__(self, seed: int, residents: int, policy: Policy, today: date) -> None:
        self.rng = random.Random(seed)
        self.target = residents
        self.policy = policy
        self.today = today
        self.people: list[Resident] = []
        self.sequence: dict[date, int] = defaultdict(int)
        self.villages = [
            (f"DV{i + 1:02d}", v, t)
            for i, (t, v) in enumerate((t, v) for t, vs in TOWNSHIPS.items() for v in vs)
        ]

    def _id(self, prefix: str, bits: int = 96) -> str:
        return f"{prefix}{self.rng.getrandbits(bits):0{bits // 4}x}"

    def _number(self, birth: date, gender: str) -> str:
        # sequence numbers: odd for men, even for women (GB 11643), unique per birth date
        self.sequence[birth] += 1
        seq = self.sequence[birth] * 2 - (1 if gender == "male" else 0)
        first17 = f"{REGION}{birth:%Y%m%d}{seq % 1000:03d}"
        return first17 + check_char(first17)

    def _name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(
            self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2)))
        )

    def _birth(self, lo: int, hi: int) -> date:
        return date(lo, 1, 1) + timedelta(
            days=self.rng.randrange((date(hi, 12, 31) - date(lo, 1, 1)).days)
        )

    def _enrolled_on(self, birth: date) -> date:
        start = self.policy.scheme_start
        sixteen = date(birth.year + 16, birth.month, min(birth.day, 28))
        first = max(start, sixteen)
        return min(
            first + timedelta(days=self.rng.randrange(0, 180)), self.today - timedelta(days=1)
        )

    def person(
        self, village: str, household: str, birth: date, surname: str | None = None
    ) -> Resident:
        gender = self.rng.choice(("male", "female"))
        name = (surname or self.rng.choice(SURNAMES)) + self._name()[1:]
        r = Resident(
            self._id("p"), name, birth, gender, village, household, self._enrolled_on(birth)
        )
        r.number = self._number(birth, gender)
        r.disabled = self.rng.random() < 0.012
        r.collective_fen = 2000 if self.rng.random() < 0.12 else 0
        r.other_fen = 5000 if self.rng.random() < 0.03 else 0
        r.tier_rank = self.rng.choices((0, 1, 2, 3, 4, 5), weights=(50, 20, 12, 8, 6, 4))[0]
        self.people.append(r)
        return r

    def households(self) -> None:
        n = 0
        youngest_adult = self.today.year - 18
        while len(self.people) < self.target:
            n += 1
            village = self.villages[n % len(self.villages)][0]
            household = f"HH{n:06d}"
            surname = self.rng.choice(SURNAMES)
            elder_year = self.rng.randint(1940, 1984)
            elders = [
                self.person(village, household, self._birth(elder_year, elder_year + 2), surname)
            ]
            if self.rng.random() < 0.75 and len(self.people) < self.target:
                elders.append(
                    self.person(village, household, self._birth(elder_year - 2, elder_year + 3))
                )
            for _ in range(self.rng.choice((1, 2, 2, 3))):
                year = elder_year + self.rng.randint(22, 32)
                if year > youngest_adult or len(self.people) >= self.target:
                    continue
                child = self.person(village, household, self._birth(year, year), surname)
                child.parents = [e.pid for e in elders]
        if self.people:
            demo = self.people[0]
            demo.name, demo.village = DEMO_RESIDENT, MARKER_VILLAGE
            if demo.gender != "female":  # 王秀兰 is a woman: her ID number's 17th digit is even
                demo.gender = "female"
                demo.number = self._number(demo.birth, "female")


# --- money --------------------------------------------------------------------------------


@dataclass
class Books:
    """Every row the bulk insert writes, built in memory first."""

    postings: list[dict] = field(default_factory=list)
    transfers: list[tuple[str, str, str, int, date, str]] = field(
        default_factory=list
    )  # posting, debit, credit, fen, on, code
    contributions: list[dict] = field(default_factory=list)
    interest: dict[int, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))


def _pension_age_day(r: Resident, age: int) -> date:
    return award_rule.birthday(r.birth, age)


def plan_money(g: Generator, now: datetime) -> Books:
    """Contributions and interest, year by year, with each bucket's balance kept in Python so
    that interest is exactly round(balance at the start of the year x rate)."""
    books = Books()
    policy, today = g.policy, g.today
    start = policy.scheme_start
    last_interest = today.year - 1
    for r in g.people:
        sixtieth = _pension_age_day(r, policy.pension_age)
        already_60 = sixtieth <= start
        last_year = min(today.year, sixtieth.year - 1)
        paid_years: list[int] = []
        if not already_60 and r.birth.year >= 1967 and g.rng.random() < 0.05:
            r.lapsed_after = g.rng.randint(2014, today.year - 2)
        for year in range(start.year, last_interest + 2):
            opening = dict(r.balances)
            if (
                not already_60
                and r.enrolled_on.year <= year <= last_year
                and (r.lapsed_after is None or year <= r.lapsed_after)
            ):
                paid_on = max(
                    date(year, 3, 1) + timedelta(days=g.rng.randrange(0, 115)), r.enrolled_on
                )
                if year == start.year:
                    paid_on = max(paid_on, date(year, 7, 15))
                if paid_on <= today and paid_on.year == year:
                    _contribute(g, books, r, year, paid_on, now)
                    paid_years.append(year)
            if (
                not already_60
                and r.award is None
                and sixtieth <= today - timedelta(days=20)
                and year == sixtieth.year
            ):
                r.award = _award_terms(
                    r, sixtieth, paid_years, policy, start
                )  # before this year's interest
            if year <= last_interest:
                for bucket, balance in opening.items():
                    amount = interest_rule.interest_fen(policy, balance, year)
                    if amount:
                        books.interest[year].append((ledger.bucket_code(r.pid, bucket), amount))
                        r.balances[bucket] += amount
        if already_60:
            r.award = {
                "awarded_on": r.enrolled_on,
                "first_month": months.add(months.of(r.enrolled_on), 1),
                "group": "already_60",
                "years": 0,
                "total": 0,
                "government": 0,
            }
    return books


def _contribute(
    g: Generator, books: Books, r: Resident, year: int, paid_on: date, now: datetime
) -> None:
    pset = g.policy.set_on(paid_on)
    posting = g._id("pst_demo_", 112)
    code = lambda b: ledger.bucket_code(r.pid, b)  # noqa: E731
    if r.disabled:
        kind, tier, personal = "on_behalf", pset.lowest_tier_fen, 0
        books.transfers.append(
            (posting, "fiscal:county:on_behalf", code("government"), tier, paid_on, "on_behalf")
        )
        r.balances["government"] += tier
    else:
        kind = "normal"
        tier = personal = pset.tiers_fen[min(r.tier_rank, len(pset.tiers_fen) - 1)]
        books.transfers.append(
            (posting, "source:personal", code("personal"), tier, paid_on, "contribution")
        )
        r.balances["personal"] += tier
    for source, bucket, amount in (
        ("source:collective", "collective", r.collective_fen),
        ("source:other", "other", r.other_fen),
    ):
        if amount:
            books.transfers.append((posting, source, code(bucket), amount, paid_on, "contribution"))
            r.balances[bucket] += amount
    subsidy = contribution_rule.subsidy_fen(g.policy, kind, tier, paid_on)
    for level, amount in g.policy.split_subsidy(subsidy).items():
        if amount:
            books.transfers.append(
                (posting, f"fiscal:{level}:subsidy", code("government"), amount, paid_on, "subsidy")
            )
    r.balances["government"] += subsidy
    books.postings.append(
        {
            "id": posting,
            "idempotency_key": f"demo:{posting}",
            "operation": f"contribution:{kind}",
            "on": paid_on,
            "person_id": r.pid,
            "memo": "",
            "created_by": "demo",
            "created_at": now,
        }
    )
    books.contributions.append(
        {
            "id": g._id("con_demo_", 96),
            "person_id": r.pid,
            "year": year,
            "kind": kind,
            "tier_fen": tier,
            "personal_fen": personal,
            "collective_fen": r.collective_fen,
            "other_fen": r.other_fen,
            "government_fen": contribution_rule.government_fen(kind, tier, subsidy),
            "paid_on": paid_on,
            "posting_id": posting,
            "created_at": now,
        }
    )


def _award_terms(
    r: Resident, sixtieth: date, paid_years: list[int], policy: Policy, start: date
) -> dict:
    first = months.add(months.of(sixtieth), 1)
    group = award_rule.group(policy, r.birth)
    years = award_rule.counted_years(group, len(paid_years))
    # the balance on the award day: this year's interest is credited on 31 December, later
    return {
        "awarded_on": months.first_day(first),
        "first_month": first,
        "group": group,
        "years": years,
        "total": sum(r.balances.values()),
        "government": r.balances["government"],
    }


# --- writing ------------------------------------------------------------------------------


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        for i in range(0, len(rows), BATCH):
            conn.execute(sa.insert(table), rows[i : i + BATCH])
        return
    # SQLite: the driver's own executemany with the column types' bind processing done here;
    # SQLAlchemy's per-row parameter handling took most of the demo's build time
    columns = list(rows[0])
    sql = str(sa.insert(table).compile(dialect=conn.dialect, column_keys=columns))
    processors = [table.c[c].type._cached_bind_processor(conn.dialect) for c in columns]
    pairs = list(zip(columns, processors, strict=True))
    for i in range(0, len(rows), BATCH):
        values = [
            tuple(v if f is None or v is None else f(v) for c, f in pairs for v in (r[c],))
            for r in rows[i : i + BATCH]
        ]
        conn.exec_driver_sql(sql, values)


def write_people(engine: Engine, g: Generator, keyring: Keyring, now: datetime) -> None:
    with engine.begin() as conn:
        _insert(
            conn,
            Village.__table__,
            [{"code": c, "name": v, "township": t} for c, v, t in g.villages],
        )
        _insert(
            conn,
            Person.__table__,
            [
                {
                    "id": r.pid,
                    "id_hash": keyring.lookup_hash(r.number),
                    "id_number_enc": keyring.encrypt_text(r.number, r.pid),
                    "old_id_number_enc": None,
                    "name": r.name,
                    "birth_date": r.birth,
                    "gender": r.gender,
                    "village_code": r.village,
                    "phone_enc": keyring.encrypt_text(f"13{g.rng.randrange(10**9):09d}", r.pid)
                    if g.rng.random() < 0.7
                    else None,
                    "household_id": r.household,
                    "student": False,
                    "urban_employee_pension": False,
                    "severely_disabled": r.disabled,
                    "homebound": r.award is not None and g.rng.random() < 0.08,
                    "enrolled_on": r.enrolled_on,
                    "status": "receiving" if r.award else "enrolled",
                    "frozen_reason": None,
                    "cancelled_on": None,
                    "cancel_reason": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in g.people
            ],
        )
        _insert(
            conn,
            PersonParent.__table__,
            [{"person_id": r.pid, "parent_id": p} for r in g.people for p in r.parents],
        )
        _insert(
            conn,
            LedgerAccount.__table__,
            [
                {
                    "code": ledger.bucket_code(r.pid, b),
                    "kind": "bucket",
                    "person_id": r.pid,
                    "bucket": b,
                    "no_negative": True,
                    "debits_posted": 0,
                    "credits_posted": 0,
                }
                for r in g.people
                for b in ("personal", "collective", "other", "government")
            ],
        )


def write_money(engine: Engine, g: Generator, books: Books, now: datetime) -> None:
    with engine.begin() as conn:
        ids: dict[str, int] = dict(
            conn.execute(sa.text("SELECT code, id FROM ledger_account")).all()
        )
        _insert(conn, LedgerPosting.__table__, books.postings)
        _insert(conn, Contribution.__table__, books.contributions)
        rows = [
            {
                "posting_id": p,
                "debit_account_id": ids[d],
                "credit_account_id": ids[c],
                "amount_fen": a,
                "on": on,
                "code": code,
            }
            for p, d, c, a, on, code in books.transfers
        ]
        for year, credits in sorted(books.interest.items()):
            posting = g._id("pst_demo_", 112)
            conn.execute(
                sa.insert(LedgerPosting.__table__),
                [
                    {
                        "id": posting,
                        "idempotency_key": f"interest:{year}",
                        "operation": "interest",
                        "on": date(year, 12, 31),
                        "person_id": None,
                        "memo": "",
                        "created_by": "demo",
                        "created_at": now,
                    }
                ],
            )
            rows += [
                {
                    "posting_id": posting,
                    "debit_account_id": ids["fund:interest"],
                    "credit_account_id": ids[code],
                    "amount_fen": a,
                    "on": date(year, 12, 31),
                    "code": "interest",
                }
                for code, a in credits
            ]
            conn.execute(
                sa.text(
                    "INSERT INTO interest_run (year, posting_id, accounts, total_fen, created_at) VALUES (:y, :p, :n, :t, :now)"
                ),
                {
                    "y": year,
                    "p": posting,
                    "n": len(credits),
                    "t": sum(a for _, a in credits),
                    "now": now,
                },
            )
        _insert(conn, LedgerTransfer.__table__, rows)
        # running totals from the transfers themselves: the ledger check's own definition
        conn.execute(
            sa.text(
                "UPDATE ledger_account SET "
                "debits_posted = COALESCE((SELECT SUM(t.amount_fen) FROM ledger_transfer t WHERE t.debit_account_id = ledger_account.id), 0), "
                "credits_posted = COALESCE((SELECT SUM(t.amount_fen) FROM ledger_transfer t WHERE t.credit_account_id = ledger_account.id), 0)"
            )
        )


def write_awards(
    engine: Engine, g: Generator, keyring: Keyring, history_start: str, now: datetime
) -> int:
    policy = g.policy
    awards, certs = [], []
    for r in g.people:
        a = r.award
        if a is None:
            continue
        pension = award_rule.account_pension_fen(policy, a["total"])
        gov_part = award_rule.government_part_fen(pension, a["government"], a["total"])
        awards.append(
            {
                "id": g._id("awd_demo_", 96),
                "person_id": r.pid,
                "awarded_on": a["awarded_on"],
                "first_month": a["first_month"],
                "eligibility_group": a["group"],
                "family_binding": a["group"] == "already_60",
                "contribution_years": a["years"],
                "account_pension_fen": pension,
                "account_total_at_award_fen": a["total"],
                "government_at_award_fen": a["government"],
                "government_part_fen": gov_part,
                "bank_account_enc": keyring.encrypt_text(
                    f"6217 {g.rng.randrange(10**12):012d}", r.pid
                )
                if g.rng.random() < 0.6
                else None,
                # the ledger's payroll history starts at `history_start`: earlier months count as settled
                "settled_through": max(
                    months.add(history_start, -1), months.add(a["first_month"], -1)
                ),
                "revoked_at": None,
                "created_by": "demo",
                "created_at": now,
            }
        )
        certs += _certifications(g, r, a["awarded_on"], now)
    with engine.begin() as conn:
        _insert(conn, Award.__table__, awards)
        _insert(conn, Certification.__table__, certs)
    return len(awards)


def _certifications(g: Generator, r: Resident, awarded_on: date, now: datetime) -> list[dict]:
    """The award itself, then once a year on an anniversary; 3% stop this year (they lapse)."""
    month, day = g.rng.randint(1, 12), g.rng.randint(1, 28)
    lapses = g.rng.random() < 0.03
    channel = g.rng.choices(("kiosk", "field", "counter", "data_match"), weights=(60, 20, 15, 5))[0]
    days = [(awarded_on, "award")] + [
        (date(y, month, day), channel)
        for y in range(g.today.year - 2, g.today.year + 1)
        if awarded_on < date(y, month, day) <= g.today and not (lapses and y == g.today.year)
    ]
    return [
        {
            "id": g._id("cer_demo_", 96),
            "person_id": r.pid,
            "channel": ch,
            "outcome": "passed",
            "certified_on": on,
            "valid_until": certification_rule.valid_until_for(g.policy, on),
            "actor": "demo",
            "reasons": "[]",
            "evidence": "",
            "created_at": now,
        }
        for on, ch in days
    ]


# --- services: payroll, deaths, users, devices, review cases, the demo face -----------------


def _analyze(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def run_payrolls(engine: Engine, policy: Policy, today: date, history_start: str) -> int:
    from backend.services import payroll

    last = months.of(today) if today.day >= policy.payroll_day else months.add(months.of(today), -1)
    periods = months.span(history_start, last)
    for period in periods:
        run = payroll.run(engine, policy, Actor("user", "demo", "admin"), today, period)
        # four eyes: the demo's history was released by a second admin
        with session_scope(engine) as s:
            payroll.approve(s, run.run_id, DEMO_CHECKER)
    return len(periods)


def settle_deaths(engine: Engine, g: Generator, keyring: Keyring, count: int) -> int:
    from backend.services import terminations

    pensioners = [
        r
        for r in g.people
        if r.award and r.name != DEMO_RESIDENT and r.award["group"] == "already_60"
    ]
    chosen = g.rng.sample(pensioners, min(count, len(pensioners)))
    for r in chosen:
        died = g.today - timedelta(days=g.rng.randint(20, 120))
        with session_scope(engine) as s:
            reported = terminations.report(
                Ctx(s, g.policy, keyring, Actor("user", "demo", "clerk"), g.today),
                r.pid,
                "death",
                died,
                g.rng.choice(("manual_report", "civil_registry", "family_report")),
            )
            # four eyes: a second person confirms the report, and the settlement runs
            terminations.confirm(Ctx(s, g.policy, keyring, DEMO_CHECKER, g.today), reported.id)
    return len(chosen)


def add_review_cases(engine: Engine, g: Generator) -> None:
    reasons = [
        ["grey_zone"],
        ["repeated_failures"],
        ["liveness_failed"],
        ["location_far"],
        ["card_mismatch"],
        ["grey_zone", "location_far"],
        ["possible_duplicate"],
    ]
    pensioners = [r for r in g.people if r.award and r.name != DEMO_RESIDENT]
    with engine.begin() as conn:
        _insert(
            conn,
            ReviewCase.__table__,
            [
                {
                    "id": g._id("case_demo_", 96),
                    "person_id": r.pid,
                    "certification_id": None,
                    "reasons": json.dumps(why),
                    "status": "open",
                    "created_at": clock.now(),
                }
                for r, why in zip(
                    g.rng.sample(pensioners, min(len(reasons), len(pensioners))),
                    reasons,
                    strict=False,
                )
            ],
        )


def add_users_and_kiosk(engine: Engine, g: Generator, data_dir: Path) -> tuple[str, str]:
    from backend.services import auth
    from client.capture import DeviceKey

    # the demo kiosk's capture key, made in its own data folder (NONGBAO_KIOSK_DATA)
    key = DeviceKey.load_or_create(data_dir / "kiosk")
    with session_scope(engine) as s:
        for role, password in PASSWORDS.items():
            villages = (
                [c for c, _, _ in g.villages[:FIELD_VILLAGES]] if role == "field_worker" else []
            )
            auth.create_user(s, role, password, role, villages)
        device, token = auth.register_device(
            s, "示范县政务大厅自助机 (demo)", "kiosk", "县政务服务中心一楼大厅", key.public_b64
        )
    return device.id, token


def demo_face_png() -> bytes:
    """scikit-image's astronaut (public domain, NASA): no personal photo in the repository."""
    import io

    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    # the head and shoulders only: the full picture has a second face-like shape in it
    Image.fromarray(data.astronaut()[0:260, 120:380]).save(buf, format="PNG")
    return buf.getvalue()


def demo_face_second_png() -> bytes:
    """The demo's SECOND enrolment photo (enrolment takes at least two): a STAND-IN derived
    from the same astronaut picture (backend/stand_in.py: re-framed, 90%, 6% brighter). A real
    enrolment takes two separate captures; there is no second public-domain photo of her."""
    from backend.stand_in import second_view

    return second_view(demo_face_png())


def enrol_demo_face(
    engine: Engine, policy: Policy, keyring: Keyring, person_id: str, data_dir: Path
) -> tuple[bool, str]:
    try:
        png = demo_face_png()
        second = demo_face_second_png()
    except ImportError as exc:
        return (
            False,
            f"scikit-image is not installed ({exc}): `pip install scikit-image` for the demo face",
        )
    (data_dir / "demo-face.png").write_bytes(png)
    (data_dir / "demo-face-2.png").write_bytes(second)
    try:
        from backend.services import faces

        with session_scope(engine) as s:
            ctx = Ctx(s, policy, keyring, Actor("user", "demo", "clerk"))
            faces.enrol(ctx, person_id, [png, second])
    except ImportError as exc:
        return (
            False,
            f"the face engine is not available here ({exc}); the demo resident has no enrolled face",
        )
    except Exception as exc:  # the engine's own refusal or a missing model: say so, keep the demo
        return False, f"the demo face could not be enrolled: {type(exc).__name__}: {exc}"
    return True, (
        f"enrolled from {data_dir / 'demo-face.png'} (skimage.data.astronaut) and "
        f"{data_dir / 'demo-face-2.png'} (a stand-in second photo: the same picture re-framed)"
    )


def write_population(g: Generator, data_dir: Path) -> None:
    """The county's statistics of eligible residents, for the coverage report's rates."""
    from backend.reports.coverage import POPULATION_FILE

    rows = []
    for year in range(g.policy.scheme_start.year, g.today.year + 1):
        end = date(year, 12, 31)
        for code, _, _ in g.villages:
            here = [r for r in g.people if r.village == code and r.enrolled_on <= end]
            adults = sum(1 for r in here if r.birth <= date(year - 16, 12, 31))
            old = sum(1 for r in here if r.birth <= date(year - 60, 12, 31))
            rows.append(
                {
                    "village_code": code,
                    "year": year,
                    "residents_16_plus": round(adults / 0.955) + 3,
                    "residents_60_plus": round(old / 0.99) + 1,
                }
            )
    with (data_dir / POPULATION_FILE).open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(
            f, fieldnames=["village_code", "year", "residents_16_plus", "residents_60_plus"]
        )
        w.writeheader()
        w.writerows(rows)


# --- the entry point ----------------------------------------------------------------------


class _Steps:
    """Reports each phase with its duration (the CLI prints them; a minute is the budget)."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.progress, self.last = progress, time.perf_counter()

    def __call__(self, what: str) -> None:
        now = time.perf_counter()
        if self.progress:
            self.progress(f"{what} ({now - self.last:.1f} s)")
        self.last = now


def exists(engine: Engine) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text("SELECT 1 FROM village WHERE code = :c"), {"c": MARKER_VILLAGE}
            ).first()
            is not None
        )


def build_demo(
    residents: int = 10_000,
    seed: int = 2026,
    data_dir: Path | None = None,
    *,
    database_url: str | None = None,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoInfo:
    """Create the demo county (or find the one already there) and describe it."""
    from backend.config import get_settings

    started = time.perf_counter()
    settings = get_settings()
    data_dir = Path(data_dir or settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url or settings.database_url or f"sqlite:///{data_dir / 'nongbao.sqlite3'}"
    today = today or clock.today()
    upgrade(url)
    engine = engine_for(url)
    keyring = load_keyring(
        settings.key_file or data_dir / "keys" / "master.key", settings.master_key
    )
    info_path = data_dir / INFO_FILE
    if exists(engine) and info_path.exists():
        info = DemoInfo(
            **{
                **json.loads(info_path.read_text(encoding="utf-8")),
                "created": False,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        return info
    if exists(engine):
        raise RuntimeError(
            f"the database {url} holds a demo county but {info_path} is missing; use a fresh --data-dir"
        )
    policy = load_policy(settings.policy_file)
    now = clock.now()
    step = _Steps(progress)
    g = Generator(seed, residents, policy, today)
    g.households()
    books = plan_money(g, now)
    step("people and money planned")
    with session_scope(engine) as s:
        ledger.ensure_fund_accounts(s)
    write_people(engine, g, keyring, now)
    step("people written")
    write_money(engine, g, books, now)
    step("contributions and interest written")
    history_start = months.add(months.of(today), -PAYROLL_MONTHS)
    pensioners = write_awards(engine, g, keyring, history_start, now)
    _analyze(engine)  # planner statistics: without them SQLite's family-binding query is quadratic
    step("awards and certifications written")
    runs = run_payrolls(engine, policy, today, history_start)
    step(f"{runs} payroll runs")
    deaths = settle_deaths(engine, g, keyring, max(1, residents // 500))
    step(f"{deaths} deaths settled")
    add_review_cases(engine, g)
    device_id, token = add_users_and_kiosk(engine, g, data_dir)
    write_population(g, data_dir)
    step("users, kiosk, review cases")
    demo = g.people[0]
    face_ok, face_note = enrol_demo_face(engine, policy, keyring, demo.pid, data_dir)
    if face_ok:  # the field worker's list gets the same face, so a demo home visit can match
        from backend.demo_field import give_worklist_faces

        field_villages = [c for c, _, _ in g.villages[:FIELD_VILLAGES]]
        given = give_worklist_faces(engine, policy, keyring, demo.pid, field_villages)
        face_note += f"; the same face for the {given} people on the field work list"
    info = DemoInfo(
        data_dir=str(data_dir),
        database_url=engine.url.render_as_string(hide_password=True),
        created=True,
        seconds=round(time.perf_counter() - started, 1),
        residents=len(g.people),
        pensioners=pensioners,
        contributions=len(books.contributions),
        payroll_runs=runs,
        deaths=deaths,
        users=dict(PASSWORDS),
        kiosk_device_id=device_id,
        kiosk_token=token,
        demo_person_id=demo.pid,
        demo_id_number=demo.number,
        face_enrolled=face_ok,
        face_note=face_note,
    )
    # the kiosk token is shown once by the API; the demo keeps it beside its own database
    info_path.write_text(json.dumps(asdict(info), ensure_ascii=False, indent=1), encoding="utf-8")
    return info


# --- what the `nongbao demo` command prints and starts ------------------------------------


def describe(info: DemoInfo, base: str) -> str:
    year = clock.today().year
    lines = [
        f"Demo county {'created' if info.created else 'reused'} in {info.seconds} s: {info.residents} residents, {info.pensioners} pensioners, "
        f"{info.contributions} contributions, {info.payroll_runs} payroll runs, {info.deaths} deaths  (data: {info.data_dir})",
        f"  backend      {base}/healthz   API docs {base}/docs",
        f"  console      {base}/console",
        f"  reports      {base}/api/v1/reports/fund/{year}?format=pdf   {base}/api/v1/reports/certification?format=pdf",
        "  logins       "
        + "   ".join(f"{user} / {password}" for user, password in info.users.items()),
        f"  kiosk token  {info.kiosk_token}   (device {info.kiosk_device_id})",
        f"  resident     {info.demo_person_name}  ID {info.demo_id_number}  person {info.demo_person_id}",
        f"  demo face    {'yes: ' if info.face_enrolled else 'no: '}{info.face_note}",
    ]
    return "\n".join(lines)


def kiosk_launch(base: str, info: DemoInfo) -> tuple[list[str], dict[str, str]]:
    """The command and environment of the demo kiosk: simulated devices against the demo
    backend (its URL and device token), the demo resident's card on the demo strip and her
    face in front of the simulated camera. tests/e2e/test_demo_e2e.py starts it the same way."""
    import os
    import sys

    command = [
        sys.executable,
        "-m",
        "nongbao",
        "kiosk",
        "--simulate",
        "--backend",
        base,
        "--token",
        info.kiosk_token,
    ]
    face = Path(info.data_dir) / "demo-face.png"
    env = {**os.environ, "NONGBAO_DEMO_FACE": str(face)} if face.exists() else dict(os.environ)
    env["NONGBAO_KIOSK_DATA"] = str(Path(info.data_dir) / "kiosk")  # its registered key
    # the demo strip's card: the demo resident's ID number and name, as the card holds them
    env["NONGBAO_DEMO_CARD"] = f"{info.demo_id_number} {DEMO_RESIDENT}"
    return command, env


def start_kiosk(base: str, info: DemoInfo) -> subprocess.Popen[bytes] | None:
    """The kiosk in simulation mode as a child process, when its app is installed here."""
    import importlib.util
    import subprocess
    import sys

    command, env = kiosk_launch(base, info)
    if importlib.util.find_spec("kiosk_app") is None or importlib.util.find_spec("kivy") is None:
        print(
            f"kiosk: not started (kiosk_app or Kivy is not installed here); with them installed run:\n  {' '.join(command[2:])}",
            file=sys.stderr,
        )
        return None
    print(f"kiosk: starting `{' '.join(command[2:])}`", file=sys.stderr)
    return subprocess.Popen(command, env=env)
