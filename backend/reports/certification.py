"""Certification status per village: the field workers' work list.

Every pensioner (a live award, receiving or suspended) falls in exactly one class on the
report date: suspended (payment stopped), overdue (no certification valid on the date),
due (valid, but it runs out within the policy's `certification.due_soon_days`), or certified:
the classes of backend/rules/certification.py (DOMAIN.md, section "Certification")."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from backend.crypto import Keyring
from backend.policy import Policy
from backend.reports import charts
from backend.reports.common import in_clause, masked_id, scoped_villages
from backend.reports.model import Chart, Column, Report, Section
from backend.rules import certification as rule

CLASSES = ("certified", "due", "overdue", "suspended")
CLASS_ZH = {"certified": "已认证", "due": "即将到期", "overdue": "已逾期", "suspended": "已暂停"}
COLORS = {"certified": "#4caf50", "due": "#ffb300", "overdue": "#e53935", "suspended": "#757575"}
# certified without coming in (静默认证): by the scored evidence import, backend/services/silent_cert.py
SILENT_CHANNELS = ("data_match",)
SILENT_TITLE = "静默认证率 / Certified without coming in"


def classify(policy: Policy, status: str, valid_until: date | None, on: date) -> str:
    if status == "suspended":
        return "suspended"
    state = rule.state(policy, valid_until, on)
    return "overdue" if state == "never" else state


def report(
    s: Session,
    keyring: Keyring,
    policy: Policy,
    on: date,
    village: str | None = None,
    allowed: tuple[str, ...] | None = None,
) -> Report:
    scope = scoped_villages(s, village, allowed)
    inv, vp = in_clause("v", list(scope))
    rows = s.execute(
        sa.text(
            "SELECT p.id, p.name, p.id_number_enc, p.village_code, p.status, p.homebound, p.phone_enc, "
            "(SELECT MAX(c.valid_until) FROM certification c WHERE c.person_id = p.id AND c.outcome = 'passed' AND c.certified_on <= :on) AS valid_until, "
            # the channel of the certification in force: data_match is "without coming in"
            "(SELECT c.channel FROM certification c WHERE c.person_id = p.id AND c.outcome = 'passed' AND c.certified_on <= :on "
            "ORDER BY c.certified_on DESC, c.created_at DESC LIMIT 1) AS channel "
            "FROM person p JOIN award a ON a.person_id = p.id AND a.revoked_at IS NULL "
            f"WHERE p.status IN ('receiving', 'suspended') AND p.village_code IN ({inv}) ORDER BY p.village_code, p.id"
        ),
        {"on": on, **vp},
    ).all()
    counts = {code: dict.fromkeys(CLASSES, 0) for code in scope}
    silent = dict.fromkeys(scope, 0)
    work = Section(
        "待认证名单 / Work list (due, overdue, suspended)",
        [
            Column("village", "村 / Village", "text", 1.1),
            Column("name", "姓名 / Name", "text", 0.9),
            Column("id_number", "身份证号 / ID number", "text", 1.9),
            Column("status", "状态 / Status", "text", 1.5),
            Column("valid_until", "有效期至 / Valid until", "text", 1.1),
            Column("homebound", "行动不便 / Homebound", "text", 1.1),
            Column("phone", "电话 / Phone", "text", 1.1),
        ],
    )
    for r in rows:
        until = date.fromisoformat(str(r.valid_until)) if r.valid_until is not None else None
        cls = classify(policy, r.status, until, on)
        counts[r.village_code][cls] += 1
        silent[r.village_code] += cls in ("certified", "due") and r.channel in SILENT_CHANNELS
        if cls != "certified":
            work.rows.append(
                {
                    "person_id": r.id,
                    "village": scope[r.village_code],
                    "name": r.name,
                    "id_number": masked_id(keyring, r.id, r.id_number_enc),
                    "status": f"{CLASS_ZH[cls]} {cls}",
                    "class": cls,
                    "valid_until": until.isoformat() if until else "—",
                    "homebound": "是 yes" if r.homebound else "",
                    "phone": keyring.decrypt_text(r.phone_enc, r.id) if r.phone_enc else "",
                }
            )
    by_village = Section(
        "分村统计 / By village",
        [
            Column("village", "村 / Village", "text", 2),
            Column("pensioners", "领取人数 / Pensioners", "int"),
            *[Column(c, f"{CLASS_ZH[c]} / {c}", "int") for c in CLASSES],
        ],
    )
    for code, name in scope.items():
        by_village.rows.append(
            {
                "village_code": code,
                "village": f"{name}（{code}）",
                "pensioners": sum(counts[code].values()),
                **counts[code],
            }
        )
    by_village.totals = {
        "village": "合计 / Total",
        "pensioners": by_village.total_of("pensioners"),
        **{c: by_village.total_of(c) for c in CLASSES},
    }
    labels = [r["village"] for r in by_village.rows]
    without = silent_section(by_village, silent)

    def draw() -> bytes:
        series = {f"{CLASS_ZH[c]} {c}": [r[c] for r in by_village.rows] for c in CLASSES}
        colors = {f"{CLASS_ZH[c]} {c}": COLORS[c] for c in CLASSES}
        return charts.stacked_bars(
            labels, series, colors, f"认证状态 Certification status {on.isoformat()}"
        )

    return Report(
        kind="certification",
        title=f"领取待遇资格认证情况 {on.isoformat()} / Certification status",
        facts=[
            ("统计日期 As of", on.isoformat()),
            ("到期提醒 Due window", f"{policy.certification.due_soon_days} 天 days"),
        ],
        sections=[by_village, without, work],
        charts=[
            Chart("certification-status", "分村认证状态 / Status by village", draw),
            Chart(
                "certified-without-coming-in",
                "分村静默认证率 / Certified without coming in, by village",
                lambda: silent_chart(without, on),
            ),
        ],
        summary={
            "on": on.isoformat(),
            "totals": by_village.totals,
            "villages": by_village.rows,
            "without_coming_in": {"totals": without.totals, "villages": without.rows},
        },
    )


def silent_section(by_village: Section, silent: dict[str, int]) -> Section:
    """The county director's figure: per village, the share of pensioners whose certification
    in force came from data (no visit to a kiosk, counter or a field worker)."""
    section = Section(
        SILENT_TITLE,
        [
            Column("village", "村 / Village", "text", 2),
            Column("pensioners", "领取人数 / Pensioners", "int"),
            Column("certified", "认证有效 / Certified", "int"),
            Column("silent", "静默认证 / Without coming in", "int"),
            Column("share", "静默认证率 / Share", "rate"),
        ],
    )
    for row in by_village.rows:
        code, total = row["village_code"], row["pensioners"]
        section.rows.append(
            {
                "village_code": code,
                "village": row["village"],
                "pensioners": total,
                "certified": row["certified"] + row["due"],
                "silent": silent[code],
                "share": silent[code] / total if total else None,
            }
        )
    total = section.total_of("pensioners")
    section.totals = {
        "village": "合计 / Total",
        "pensioners": total,
        "certified": section.total_of("certified"),
        "silent": section.total_of("silent"),
        "share": section.total_of("silent") / total if total else None,
    }
    return section


def silent_chart(section: Section, on: date) -> bytes:
    labels = [r["village"] for r in section.rows] + ["合计 Total"]
    shares = [r["share"] for r in section.rows] + [(section.totals or {}).get("share")]
    return charts.share_bars(
        labels, shares, f"静默认证率 Certified without coming in {on.isoformat()}"
    )
