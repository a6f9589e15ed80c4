"""The village publicity list (公示), yearly: contributors and pensioners, names and ID
numbers masked so the list can hang on the village notice board."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from backend.crypto import Keyring
from backend.idnumber import mask_name
from backend.reports.common import in_clause, masked_id, scoped_villages
from backend.reports.model import Column, Report, Section

KIND_ZH = {"normal": "正常缴费", "back_payment": "补缴", "on_behalf": "代缴"}
CONTRIB = [
    Column("seq", "序号 / No.", "int", 0.5),
    Column("name", "姓名 / Name", "text", 0.9),
    Column("id_number", "身份证号 / ID number", "text", 1.9),
    Column("kind", "类别 / Kind", "text", 0.9),
    Column("personal_fen", "个人缴费 / Personal", "fen"),
    Column("collective_fen", "集体补助 / Collective", "fen"),
    Column("other_fen", "其他资助 / Other", "fen"),
    Column("government_fen", "政府补贴 / Government", "fen"),
]
PENSION = [
    Column("seq", "序号 / No.", "int", 0.5),
    Column("name", "姓名 / Name", "text", 0.9),
    Column("id_number", "身份证号 / ID number", "text", 1.9),
    Column("months", "月数 / Months", "int", 0.7),
    Column("basic_fen", "基础养老金 / Basic", "fen"),
    Column("account_fen", "个人账户养老金 / Account", "fen"),
    Column("total_fen", "合计 / Total", "fen"),
]


def report(
    s: Session,
    keyring: Keyring,
    year: int,
    village: str | None = None,
    allowed: tuple[str, ...] | None = None,
) -> Report:
    scope = scoped_villages(s, village, allowed)
    inv, vp = in_clause("v", list(scope))
    contributions = s.execute(
        sa.text(
            "SELECT p.village_code, p.id, p.name, p.id_number_enc, k.kind, k.personal_fen, k.collective_fen, k.other_fen, k.government_fen "
            f"FROM contribution k JOIN person p ON p.id = k.person_id WHERE k.year = :year AND k.reversed_at IS NULL AND p.village_code IN ({inv}) "
            "ORDER BY p.village_code, p.id"
        ),
        {"year": year, **vp},
    ).all()
    pensions = s.execute(
        sa.text(
            "SELECT p.village_code, p.id, p.name, p.id_number_enc, COUNT(*) AS months, SUM(pm.basic_fen) AS basic, SUM(pm.account_fen) AS account "
            f"FROM paid_month pm JOIN person p ON p.id = pm.person_id WHERE pm.month >= :mlo AND pm.month <= :mhi AND pm.recovered_at IS NULL AND p.village_code IN ({inv}) "
            "GROUP BY p.village_code, p.id, p.name, p.id_number_enc ORDER BY p.village_code, p.id"
        ),
        {"mlo": f"{year:04d}-01", "mhi": f"{year:04d}-12", **vp},
    ).all()
    sections: list[Section] = []
    for code, name in scope.items():
        c_sec = Section(f"{name}（{code}）缴费人员 / Contributors", CONTRIB)
        for r in (r for r in contributions if r.village_code == code):
            c_sec.rows.append(
                {
                    "seq": len(c_sec.rows) + 1,
                    "name": mask_name(r.name),
                    "id_number": masked_id(keyring, r.id, r.id_number_enc),
                    "kind": KIND_ZH.get(r.kind, r.kind),
                    "personal_fen": int(r.personal_fen),
                    "collective_fen": int(r.collective_fen),
                    "other_fen": int(r.other_fen),
                    "government_fen": int(r.government_fen),
                }
            )
        c_sec.totals = {
            "name": "合计 / Total",
            **{
                k: c_sec.total_of(k)
                for k in ("personal_fen", "collective_fen", "other_fen", "government_fen")
            },
        }
        p_sec = Section(f"{name}（{code}）领取待遇人员 / Pensioners", PENSION)
        for r in (r for r in pensions if r.village_code == code):
            basic, account = int(r.basic), int(r.account)
            p_sec.rows.append(
                {
                    "seq": len(p_sec.rows) + 1,
                    "name": mask_name(r.name),
                    "id_number": masked_id(keyring, r.id, r.id_number_enc),
                    "months": int(r.months),
                    "basic_fen": basic,
                    "account_fen": account,
                    "total_fen": basic + account,
                }
            )
        p_sec.totals = {
            "name": "合计 / Total",
            **{k: p_sec.total_of(k) for k in ("months", "basic_fen", "account_fen", "total_fen")},
        }
        sections += [c_sec, p_sec]
    return Report(
        kind="publicity",
        title=f"城乡居民养老保险{year}年度公示 / Publicity list {year}",
        facts=[("年度 Year", str(year)), ("村 Villages", "、".join(scope.values()))],
        sections=sections,
        notes=[
            "公示期七天。如有异议，请向村协管员或县社保中心反映。/ On display for seven days; objections to the village assistant or the county centre."
        ],
        summary={
            "year": year,
            "contributors": len(contributions),
            "pensioners": len(pensions),
            "personal_fen": sum(int(r.personal_fen) for r in contributions),
            "government_fen": sum(int(r.government_fen) for r in contributions),
            "pension_fen": sum(int(r.basic) + int(r.account) for r in pensions),
        },
    )
