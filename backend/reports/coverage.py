"""Coverage: enrolment, continuation and benefit take-up, by village and for the county.

Definitions (DOMAIN.md): enrolment rate = enrolled / eligible residents (16+); continuation
rate = people who paid for this year / people who paid for last year; take-up = people paid
a pension in the year / residents aged 60+. The registry holds only enrolled people, so the
eligible population comes from the county's statistics, a CSV `population.csv` in the data
folder (`village_code,year,residents_16_plus,residents_60_plus`). Without it the enrolment
rate is unknown (shown as —) and take-up is measured against the enrolled people aged 60+.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from backend.reports import charts
from backend.reports.common import in_clause, scoped_villages, year_bounds
from backend.reports.model import Chart, Column, Report, Section

POPULATION_FILE = "population.csv"
COLUMNS = [
    Column("village", "村 / Village", "text", 2),
    Column("enrolled", "参保 / Enrolled", "int"),
    Column("eligible", "应参保 / Eligible 16+", "int"),
    Column("enrolment_rate", "参保率 / Enrolment", "rate"),
    Column("paying", "本年缴费 / Paying", "int"),
    Column("paying_last_year", "上年缴费 / Paid last year", "int"),
    Column("continuation_rate", "续保率 / Continuation", "rate"),
    Column("aged_60", "60岁以上 / Aged 60+", "int"),
    Column("receiving", "领取 / Receiving", "int"),
    Column("take_up_rate", "领取率 / Take-up", "rate"),
    Column("pension_paid_fen", "发放金额 / Paid", "fen", 1.3),
]
COUNTS = (
    "enrolled",
    "eligible",
    "paying",
    "paying_last_year",
    "aged_60",
    "receiving",
    "pension_paid_fen",
)


def load_population(data_dir: Path | None) -> dict[tuple[str, int], tuple[int, int]]:
    path = (data_dir / POPULATION_FILE) if data_dir else None
    if path is None or not path.exists():
        return {}
    with path.open(encoding="utf-8-sig") as f:
        return {
            (r["village_code"], int(r["year"])): (
                int(r["residents_16_plus"]),
                int(r["residents_60_plus"]),
            )
            for r in csv.DictReader(f)
        }


def _by_village(s: Session, sql: str, params: dict[str, object]) -> dict[str, int]:
    return {code: int(n or 0) for code, n in s.execute(sa.text(sql), params).all()}


def figures(s: Session, year: int, codes: list[str]) -> dict[str, dict[str, int]]:
    """Per village: the counts of the year."""
    lo, hi = year_bounds(year)
    inv, vp = in_clause("v", codes)
    alive = (
        "p.enrolled_on <= :hi AND (p.cancelled_on IS NULL OR p.cancelled_on > :hi) "
        "AND NOT EXISTS (SELECT 1 FROM death d WHERE d.person_id = p.id AND d.date_of_death <= :hi)"
    )
    base = {
        "lo": lo,
        "hi": hi,
        "year": year,
        "last": year - 1,
        "born60": date(year - 60, 12, 31),
        "mlo": f"{year:04d}-01",
        "mhi": f"{year:04d}-12",
        **vp,
    }
    q = {
        "enrolled": f"SELECT p.village_code, COUNT(*) FROM person p WHERE {alive} AND p.village_code IN ({inv}) GROUP BY p.village_code",
        "aged_60": f"SELECT p.village_code, COUNT(*) FROM person p WHERE {alive} AND p.birth_date <= :born60 AND p.village_code IN ({inv}) GROUP BY p.village_code",
        "paying": f"SELECT p.village_code, COUNT(DISTINCT k.person_id) FROM contribution k JOIN person p ON p.id = k.person_id WHERE k.year = :year AND k.reversed_at IS NULL AND p.village_code IN ({inv}) GROUP BY p.village_code",
        "paying_last_year": f"SELECT p.village_code, COUNT(DISTINCT k.person_id) FROM contribution k JOIN person p ON p.id = k.person_id WHERE k.year = :last AND k.reversed_at IS NULL AND p.village_code IN ({inv}) GROUP BY p.village_code",
        "receiving": f"SELECT p.village_code, COUNT(DISTINCT pm.person_id) FROM paid_month pm JOIN person p ON p.id = pm.person_id WHERE pm.month >= :mlo AND pm.month <= :mhi AND pm.recovered_at IS NULL AND p.village_code IN ({inv}) GROUP BY p.village_code",
        # months recovered after a death do not count as received; the money paid does, by
        # payroll date, like the ledger's payout postings (arrears are paid in the run's year)
        "pension_paid_fen": f"SELECT l.village_code, SUM(l.total_fen) FROM payroll_line l JOIN payroll_run r ON r.id = l.run_id WHERE r.run_on >= :lo AND r.run_on <= :hi AND l.village_code IN ({inv}) GROUP BY l.village_code",
    }
    got = {k: _by_village(s, sql, base) for k, sql in q.items()}
    return {code: {k: got[k].get(code, 0) for k in q} for code in codes}


def _rates(row: dict[str, int | None], population_known: bool) -> dict[str, float | None]:
    def frac(a: int | None, b: int | None) -> float | None:
        return round(a / b, 6) if a is not None and b else None

    take_up_base = row.get("eligible_60") if population_known else row["aged_60"]
    return {
        "enrolment_rate": frac(row["enrolled"], row.get("eligible")) if population_known else None,
        "continuation_rate": frac(row["paying"], row["paying_last_year"]),
        "take_up_rate": frac(row["receiving"], take_up_base),
    }


def _row(label: str, counts: dict[str, int], pop: tuple[int, int] | None) -> dict[str, object]:
    numbers: dict[str, int | None] = {
        **counts,
        "eligible": pop[0] if pop else None,
        "eligible_60": pop[1] if pop else None,
    }
    return {"village": label, **numbers, **_rates(numbers, pop is not None)}


def report(
    s: Session,
    year: int,
    *,
    first_year: int,
    data_dir: Path | None = None,
    village: str | None = None,
    allowed: tuple[str, ...] | None = None,
) -> Report:
    scope = scoped_villages(s, village, allowed)
    population = load_population(data_dir)
    codes = list(scope)
    per_year: dict[int, dict[str, dict[str, int]]] = {
        y: figures(s, y, codes) for y in range(first_year, year + 1)
    }

    def county(y: int) -> dict[str, object]:
        total: dict[str, int] = defaultdict(int)
        for c in per_year[y].values():
            for k, v in c.items():
                total[k] += v
        pops = [population.get((c, y)) for c in codes]
        pop = (
            (sum(p[0] for p in pops if p), sum(p[1] for p in pops if p))
            if pops and all(pops)
            else None
        )
        return _row(
            "全县 / County" if village is None and allowed is None else "合计 / Total",
            dict(total),
            pop,
        )

    villages_sec = Section(f"{year} 年分村 / By village, {year}", COLUMNS)
    for code, name in scope.items():
        villages_sec.rows.append(
            {
                "village_code": code,
                **_row(f"{name}（{code}）", per_year[year][code], population.get((code, year))),
            }
        )
    villages_sec.totals = county(year)
    trend_rows: list[dict[str, Any]] = [{"year": y, **county(y)} for y in per_year]
    trend_sec = Section(
        "历年趋势 / Trend over years",
        [Column("year", "年度 / Year", "int", 0.7), *COLUMNS[1:]],
        trend_rows,
    )
    years = [r["year"] for r in trend_rows]

    def draw() -> bytes:
        return charts.trend(
            years,
            {
                "参保 Enrolled": [r["enrolled"] for r in trend_rows],
                "缴费 Paying": [r["paying"] for r in trend_rows],
                "领取 Receiving": [r["receiving"] for r in trend_rows],
            },
            {
                "参保率 Enrolment": [r["enrolment_rate"] for r in trend_rows],
                "续保率 Continuation": [r["continuation_rate"] for r in trend_rows],
                "领取率 Take-up": [r["take_up_rate"] for r in trend_rows],
            },
            f"覆盖情况 Coverage {first_year}–{year}",
        )

    return Report(
        kind="coverage",
        title=f"城乡居民养老保险覆盖情况 {year} / Coverage {year}",
        facts=[
            ("年度 Year", str(year)),
            (
                "人口数据 Population figures",
                "已提供 given" if population else "未提供 not given (enrolment rate unknown)",
            ),
        ],
        sections=[villages_sec, trend_sec],
        notes=[
            "参保率 = 参保人数 / 16岁以上应参保人数；续保率 = 本年缴费人数 / 上年缴费人数；领取率 = 本年领取人数 / 60岁以上人数。",
            "Enrolment = enrolled / eligible 16+; continuation = paid for this year / paid for last year; take-up = paid a pension this year / aged 60+ "
            "(the county's population figures when given, else the enrolled aged 60+). Paid = payroll totals by payroll date, as in the fund statement.",
        ],
        charts=[Chart("coverage-trend", "历年覆盖趋势 / Coverage trend", draw)],
        summary={
            "year": year,
            "county": villages_sec.totals,
            "villages": villages_sec.rows,
            "trend": trend_rows,
        },
        landscape=True,
    )
