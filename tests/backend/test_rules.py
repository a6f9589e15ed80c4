"""The pure rules of backend/rules/, on DOMAIN.md's own examples, and the single sources the
drifted copies were folded into (one "due", one threshold default, one arrears table)."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from backend.console.texts import TEXT
from backend.policy import load_policy
from backend.rules import award, certification, contributions, interest, payment, suspension
from biometrics.templates import DEFAULT_THRESHOLDS
from tests.conftest import TODAY

POLICY = load_policy()
ROOT = Path(__file__).resolve().parents[2]


SECTIONS = (
    "Contributions",
    "Interest",
    "Award at 60",
    "Monthly payment",
    "Certification",
    "Suspension, termination, recovery",
)


def test_each_rule_module_names_its_domain_section() -> None:
    named = set()
    for path in sorted((ROOT / "backend" / "rules").glob("*.py")):
        if path.name == "__init__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert doc.startswith("DOMAIN.md, section"), path.name
        named |= {s for s in SECTIONS if f'section "{s}"' in doc}
    assert named == set(SECTIONS)


def test_certified_on_the_15th_is_valid_through_the_end_of_the_month_a_year_later() -> None:
    assert certification.valid_until(12, date(2026, 3, 15)) == date(2027, 3, 31)
    assert certification.valid_until(12, date(2027, 2, 10)) == date(2028, 2, 29)


def test_one_definition_of_due() -> None:
    days = POLICY.certification.due_soon_days
    assert days == 60
    assert certification.state(POLICY, None, TODAY) == "never"
    assert certification.state(POLICY, date(2026, 11, 26), TODAY) == "overdue"
    assert certification.state(POLICY, TODAY, TODAY) == "due"
    assert certification.state(POLICY, date(2027, 1, 26), TODAY) == "due"  # TODAY + 60 days
    assert certification.state(POLICY, date(2027, 1, 27), TODAY) == "certified"
    assert certification.is_due(POLICY, date(2026, 12, 31), TODAY)
    assert not certification.is_due(POLICY, date(2027, 11, 30), TODAY)


def test_face_thresholds_have_one_default_and_the_console_shows_the_policy() -> None:
    assert (POLICY.face.pass_at, POLICY.face.refer_at) == (
        DEFAULT_THRESHOLDS.pass_at,
        DEFAULT_THRESHOLDS.refer_at,
    )
    assert certification.face_thresholds(POLICY) == DEFAULT_THRESHOLDS
    for text in TEXT["distance_hint"]:
        assert "{pass_at}" in text and "{refer_at}" in text
        assert "0.5" not in text and "0.6" not in text  # no fixed copy to go stale


def test_the_policy_has_no_unread_certification_anchor() -> None:
    assert "certification_anchor" not in type(POLICY).model_fields
    assert "certification_anchor" not in (ROOT / "backend/policy/default_county.toml").read_text()


def test_award_groups_by_age_at_the_scheme_start() -> None:
    start = POLICY.scheme_start  # 2010-07-01
    assert award.near_group_min_age(POLICY) == 45
    assert award.group(POLICY, date(1950, 7, 1)) == "already_60"
    assert award.group(POLICY, date(1950, 7, 2)) == "near"
    assert award.group(POLICY, date(1965, 7, 1)) == "near"  # 45 on the start date
    assert award.group(POLICY, date(1965, 7, 2)) == "young"
    assert award.counted_years("near", 17) == 15 and award.counted_years("young", 17) == 17
    assert award.required_years(POLICY, date(1955, 3, 1)) == list(range(start.year, 2015))
    assert award.first_month(POLICY, date(1955, 3, 1), date(2010, 7, 1)) == "2015-04"
    assert award.first_month(POLICY, date(1940, 3, 1), date(2010, 7, 1)) == "2010-08"


def test_account_pension_and_its_government_part() -> None:
    assert award.account_pension_fen(POLICY, 139 * 1000 + 69) == 1000
    assert award.account_pension_fen(POLICY, 139 * 1000 + 70) == 1001  # half up
    assert award.government_part_fen(1000, 250, 1000) == 250
    assert award.government_part_fen(0, 0, 0) == 0


def test_basic_pension_splits_by_who_pays() -> None:
    p = award.basic_pension(POLICY, "2026-11", 17)
    assert (p.total_fen, p.central_fen, p.provincial_fen, p.county_fen) == (14500, 14300, 0, 200)
    eastern = POLICY.model_copy(update={"region_class": "eastern"})
    e = award.basic_pension(eastern, "2010-07", 0)
    assert (e.central_fen, e.provincial_fen) == (2750, 2750)


def test_contribution_subsidy() -> None:
    on = date(2026, 3, 1)
    assert contributions.subsidy_fen(POLICY, "normal", 50000, on) == 6000
    assert contributions.subsidy_fen(POLICY, "back_payment", 50000, on) == 0
    assert contributions.tier_fen(POLICY, "on_behalf", 0, on) == 10000
    assert contributions.government_fen("on_behalf", 10000, 3000) == 13000
    assert contributions.subsidy_fen(POLICY, "normal", 50000, date(2012, 3, 1)) == 5000


def test_interest_on_the_opening_balance() -> None:
    assert interest.interest_fen(POLICY, 10000, 2011) == 275
    assert interest.interest_fen(POLICY, 0, 2011) == 0
    assert interest.interest_fen(POLICY, -5, 2011) == 0
    assert interest.credit_day(2011) == date(2011, 12, 31)


def test_draw_government_part_first_then_personal_collective_other_then_pool() -> None:
    d = payment.draw(300, 700, {"government": 100, "personal": 400, "collective": 0, "other": 50})
    assert (d.government_fen, d.personal_fen, d.collective_fen, d.other_fen, d.pool_fen) == (
        100,
        400,
        0,
        50,
        450,
    )


def test_owed_months_skip_paid_and_no_arrears_suspensions() -> None:
    a = payment.AwardFacts("2026-01", "2026-03", 15, 500, 100)
    spans = [
        payment.SuspensionSpan("2026-05", "2026-06", False),
        payment.SuspensionSpan("2026-08", "2026-08", True),
    ]
    owed = payment.owed_months(a, "2026-10", {"2026-09"}, spans)
    assert owed == ["2026-04", "2026-07", "2026-08", "2026-10"]
    line = payment.line(POLICY, a, "2026-10", {"2026-09"}, spans, dict.fromkeys(payment.BUCKETS, 0))
    assert line is not None and line.months == 4
    assert line.basic_fen == 14300 and line.account_fen == 500
    assert line.arrears_fen == 3 * (14300 + 500) and line.draw.pool_fen == 2000


def test_arrears_by_reason_is_one_table() -> None:
    assert suspension.arrears_paid_back("certification_lapsed")
    assert not suspension.arrears_paid_back("family_binding")
    assert suspension.arrears_paid_back("duplicate_id_number")
    payroll_source = (ROOT / "backend/services/payroll.py").read_text()
    assert ":lapse_arrears" in payroll_source and ":binding_arrears" in payroll_source


def test_settlement_order() -> None:
    balances = {"personal": 3000, "collective": 0, "other": 0, "government": 1000}
    death = suspension.settlement(POLICY, "death", date(2020, 5, 1), balances, 500)
    assert (death.inheritable_fen, death.returned_to_fund_fen) == (4000, 0)
    assert (death.offset_fen, death.to_heirs_fen, death.recovery_due_fen) == (500, 3500, 0)
    early = suspension.settlement(POLICY, "death", date(2013, 5, 1), balances, 5000)
    assert (early.inheritable_fen, early.returned_to_fund_fen) == (3000, 1000)
    assert (early.offset_fen, early.to_heirs_fen, early.recovery_due_fen) == (3000, 0, 2000)
    other = suspension.settlement(POLICY, "other_pension", date(2020, 5, 1), balances, 0)
    assert not other.government_inheritable and other.returned_to_fund_fen == 1000


def test_overpaid_draws_go_back_where_they_came_from() -> None:
    back = suspension.draws_back(
        {"government": 300, "personal": 601, "collective": 0, "other": 0}, 3, 1, 400
    )
    assert back == {"government": 100, "personal": 200, "collective": 0, "other": 0, "pool": 100}


def test_family_binding_deadline() -> None:
    assert suspension.collection_deadline(POLICY, 2026) == date(2026, 6, 30)
    assert not suspension.family_binding_checked(POLICY, date(2026, 6, 20))
    assert suspension.family_binding_checked(POLICY, date(2026, 7, 20))
    assert suspension.child_must_pay(POLICY, date(1967, 12, 31), 2026)
    assert not suspension.child_must_pay(POLICY, date(1966, 12, 31), 2026)


@pytest.mark.parametrize(
    "module", [award, certification, contributions, interest, payment, suspension]
)
def test_rules_are_pure(module: object) -> None:
    """No database, clock or network in a rule."""
    source = Path(str(getattr(module, "__file__", ""))).read_text()
    tree = ast.parse(source)
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    banned = ("sqlalchemy", "sqlmodel", "backend.clock", "backend.db", "backend.services", "httpx")
    assert not [m for m in imported if m.startswith(banned)]
