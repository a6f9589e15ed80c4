"""The review queue page by page: keyset on (created_at, id), every filter in SQL before the
LIMIT, the total and the next page's link in headers (API) or on the page (console).

Cases are written straight into review_case with chosen times and reasons (opening them
through faces or visits is tested elsewhere, and is slow); the people are enrolled through
the API, born so that their ages on the tests' TODAY (2026-11-27) sit on the filters' edges.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.db import engine_for, session_scope
from backend.models import ReviewCase
from tests.backend.conftest import PASSWORD, Api, valid_id

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
# (case id, person, reasons, minutes after T0, status); c04 and c05 share a time: id decides
CASES: list[tuple[str, str, list[Any], int, str]] = [
    ("c00", "P4", ["grey_zone"], -5, "closed"),
    ("c01", "P1", ["grey_zone"], 0, "open"),
    ("c02", "P2", [{"code": "location_far", "distance_km": 31.2, "limit_km": 20.0}], 1, "open"),
    ("c03", "P3", ["grey_zone", "liveness_failed"], 2, "open"),
    (
        "c05",
        "P4",
        ["death_reported_by_family", "date_of_death:2026-11-20", "note:grey_zone"],
        3,
        "open",
    ),
    (
        "c04",
        "P1",
        [{"code": "possible_duplicate", "template_id": "tpl_x", "others": []}],
        3,
        "open",
    ),
    ("c06", "P2", ["grey_zone"], 4, "pending_second"),
    ("c07", "P3", ["repeated_failures"], 5, "open"),
]
OPEN = ["c01", "c02", "c03", "c04", "c05", "c06", "c07"]


def _people(api: Api) -> dict[str, str]:
    """P1 is 76, P2 turns 70 today, P3 turns 70 tomorrow (69), P4 is 86."""
    born = {
        "P1": ("19500101", "011", "V001"),
        "P2": ("19561127", "021", "V001"),
        "P3": ("19561128", "031", "V002"),
        "P4": ("19400615", "041", "V002"),
    }
    return {
        key: api.enrol(valid_id("110105", birth, seq), name=f"老{key}", village=village)
        for key, (birth, seq, village) in born.items()
    }


def _add_case(
    db_url: str, case_id: str, person_id: str, reasons: list[Any], at: datetime, status: str
) -> None:
    with session_scope(engine_for(db_url)) as s:
        s.add(
            ReviewCase(
                id=case_id,
                person_id=person_id,
                reasons=json.dumps(reasons),
                status=status,
                created_at=at,
            )
        )


def _queue(api: Api, db_url: str) -> dict[str, str]:
    people = _people(api)
    for case_id, who, reasons, minutes, status in CASES:
        _add_case(db_url, case_id, people[who], reasons, T0 + timedelta(minutes=minutes), status)
    return people


def _next(r: Any) -> str | None:
    link = r.headers.get("link")
    if link is None:
        return None
    found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert found, link
    return found.group(1)


def _walk(api: Api, path: str) -> list[tuple[list[str], int, str | None]]:
    """Every page from `path` on, following Link: (case ids, X-Total-Count, next link)."""
    pages = []
    url: str | None = path
    while url is not None:
        r = api.get(url, "reviewer")
        assert r.status_code == 200, r.text
        url = _next(r)
        pages.append(([c["case_id"] for c in r.json()], int(r.headers["x-total-count"]), url))
        assert len(pages) < 20
    return pages


def test_pages_of_three_cover_the_queue_once_in_order(api: Api, db_url: str) -> None:
    _queue(api, db_url)
    pages = _walk(api, "/api/v1/review/cases?status=open&limit=3")
    assert [ids for ids, _, _ in pages] == [OPEN[:3], OPEN[3:6], OPEN[6:]]
    assert [total for _, total, _ in pages] == [7, 7, 7]
    first_link = pages[0][2]
    assert first_link is not None and first_link.startswith("/api/v1/review/cases?")
    assert "status=open" in first_link and "limit=3" in first_link and "after=" in first_link
    assert pages[1][2] is not None and pages[2][2] is None
    everything = _walk(api, "/api/v1/review/cases?status=all&limit=500")
    assert everything == [(["c00", *OPEN], 8, None)]
    default = api.get("/api/v1/review/cases", "reviewer")  # limit 100 by default
    assert len(default.json()) == 7 and "link" not in default.headers


def test_a_case_closed_between_pages_skips_no_other(api: Api, db_url: str) -> None:
    _queue(api, db_url)
    first = api.get("/api/v1/review/cases?limit=3", "reviewer")
    assert [c["case_id"] for c in first.json()] == OPEN[:3]
    for case_id in ("c02", "c05"):  # one already seen, one not yet
        r = api.post(
            f"/api/v1/review/cases/{case_id}/decision",
            "reviewer",
            json={"decision": "reject", "note": "资料不符"},
        )
        assert r.status_code == 200, r.text
    rest = _walk(api, _next(first) or "")
    assert [ids for ids, _, _ in rest] == [["c04", "c06", "c07"]]
    assert rest[0][1] == 5


def test_filters_hold_across_pages(api: Api, db_url: str) -> None:
    _queue(api, db_url)

    def ids(query: str) -> tuple[list[str], set[int]]:
        pages = _walk(api, f"/api/v1/review/cases?{query}&limit=2")
        for _, _, link in pages[:-1]:
            assert link is not None and all(p in link for p in query.split("&"))
        return [i for page, _, _ in pages for i in page], {total for _, total, _ in pages}

    # codes, or objects with a code; "note:grey_zone" is a note, not the reason
    assert ids("reason=grey_zone") == (["c01", "c03", "c06"], {3})
    assert ids("reason=grey_zone&status=all") == (["c00", "c01", "c03", "c06"], {4})
    assert ids("reason=location_far") == (["c02"], {1})
    assert ids("reason=possible_duplicate") == (["c04"], {1})
    assert ids("village=V002") == (["c03", "c05", "c07"], {3})
    # P2 turns 70 today and counts as 70; P3 turns 70 tomorrow
    assert ids("min_age=70") == (["c01", "c02", "c04", "c05", "c06"], {5})
    assert ids("max_age=69") == (["c03", "c07"], {2})
    assert ids("min_age=70&max_age=70") == (["c02", "c06"], {2})
    assert ids("min_age=70&max_age=80&village=V001") == (["c01", "c02", "c04", "c06"], {4})
    assert ids("status=pending_second&min_age=60") == (["c06"], {1})
    ages = {c["case_id"]: c["age"] for c in api.get("/api/v1/review/cases", "reviewer").json()}
    assert ages["c02"] == 70 and ages["c03"] == 69


def test_a_bad_limit_or_cursor_is_422_problem(api: Api, db_url: str) -> None:
    _queue(api, db_url)
    naive = base64.urlsafe_b64encode(b"2026-11-01T08:00:00|c01").decode().rstrip("=")
    no_id = base64.urlsafe_b64encode(b"2026-11-01T08:00:00+00:00|").decode().rstrip("=")
    for query in (
        "limit=0",
        "limit=501",
        "limit=ten",
        "after=not%20base64!",
        "after=aGVsbG8",  # "hello"
        "after=_w",  # not UTF-8
        f"after={naive}",
        f"after={no_id}",
    ):
        r = api.get(f"/api/v1/review/cases?{query}", "reviewer")
        assert r.status_code == 422, (query, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        field = query.split("=")[0]
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    ok = api.get("/api/v1/review/cases?limit=500", "reviewer")
    assert ok.status_code == 200 and len(ok.json()) == 7


def _console(api: Api) -> Any:
    client = api.client
    r = client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client


def test_console_shows_the_total_reason_counts_and_pages(api: Api, db_url: str) -> None:
    people = _queue(api, db_url)
    later = T0 + timedelta(hours=1)
    for n in range(100):  # a backlog longer than a console page (100)
        _add_case(db_url, f"x{n:03d}", people["P1"], ["grey_zone"], later, "open")
    client = _console(api)

    page = client.get("/console/cases").text
    assert "共 107 件" in page and page.count('class="open-case"') == 100
    assert "人脸比对不确定 (103)" in page and "位置离家太远 (1)" in page
    assert "疑似重复参保 (1)" in page and "卡与人不符 (0)" in page
    assert 'id="first-page"' not in page
    found = re.search(r'<a href="([^"]+)" id="next-page">下一页</a>', page)
    assert found, page
    second = client.get(found.group(1).replace("&amp;", "&")).text
    assert "共 107 件" in second and second.count('class="open-case"') == 7
    assert 'id="next-page"' not in second and "第一页" in second
    assert re.findall(r'/console/cases/([^"]+)" class="open-case"', second) == [
        f"x{n:03d}" for n in range(93, 100)
    ]

    english = client.get("/console/cases?lang=en&reason=grey_zone").text
    assert "103 cases" in english and "Next page" in english
    assert "Face in the grey zone (103)" in english
    link = re.search(r'<a href="([^"]+)" id="next-page">', english)
    assert link and "reason=grey_zone" in link.group(1)
    one = client.get("/console/cases?reason=location_far&lang=zh").text  # en is remembered
    assert "共 1 件" in one and 'id="next-page"' not in one
    assert "1 case<" in client.get("/console/cases?reason=location_far&lang=en").text
    assert client.get("/console/cases?after=aGVsbG8").status_code == 422
