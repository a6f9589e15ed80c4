"""The staff routes' answers (backend/answers_staff.py) where they vary by case: a four-eyes
confirmation's result is typed by the request's kind, a review decision sends only the fields
that apply, and a report is a JSON model or a file by its `format`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.answers_staff import (
    ApprovalDecidedOut,
    BankAccountResultOut,
    LiftResultOut,
    OtherResultOut,
    ReversalResultOut,
    ReviewDecisionOut,
)
from tests.backend.conftest import make_settings

REQUEST: dict[str, Any] = {
    "request_id": "req_1",
    "subject_id": "sub_1",
    "person_id": "p_1",
    "status": "confirmed",
    "proposed_by": "user:clerk",
    "proposed_at": "2026-11-27T10:00:00+00:00",
    "decided_by": "user:clerk2",
    "decided_at": "2026-11-27T10:05:00+00:00",
    "decision_note": None,
    "payload": {},
    "applied": True,
    "replayed": False,
}
LIFTED = {
    "id": "sus_1",
    "person_id": "p_1",
    "reason": "investigation",
    "from_month": "2026-10",
    "to_month": "2026-11",
    "arrears": True,
    "note": "",
    "created_by": "user:reviewer",
    "created_at": "2026-10-01T09:00:00",
    "lifted_at": "2026-11-27T10:05:00",
    "lifted_by": "user:clerk2",
    "lift_note": "cleared (proposed by user:clerk)",
}
REVERSED = {
    "contribution_id": "con_1",
    "person_id": "p_1",
    "reversed": True,
    "reversal_posting_id": "pst_9",
    "balance_fen": 0,
}
BANK = {
    "person_id": "p_1",
    "old": None,
    "new": "6222 **** 1234",
    "effective_on": "2026-12-01",
    "reason": "new card",
    "applied": False,
    "target": "refund",  # a key the model does not name is kept, not dropped
}
REFUND = {"person_id": "p_1", "total_fen": 12_345, "parts": [{"bucket": "personal"}]}


def test_a_confirmation_result_is_typed_by_the_request_kind_and_keeps_its_shape() -> None:
    for kind, result, model in (
        ("suspension_lift", LIFTED, LiftResultOut),
        ("contribution_reversal", REVERSED, ReversalResultOut),
        ("bank_account", BANK, BankAccountResultOut),
        ("cancellation_refund", REFUND, OtherResultOut),
        ("heirs_payout", REFUND, OtherResultOut),  # a kind added later: an open object
    ):
        answer = ApprovalDecidedOut.model_validate({**REQUEST, "kind": kind, "result": result})
        assert type(answer.result) is model, kind
        assert answer.model_dump(mode="json")["result"] == result, kind


def test_a_review_decision_sends_only_the_fields_that_apply() -> None:
    proposed = {
        "case_id": "rc_1",
        "status": "pending_second",
        "decision": "terminate",
        "needs_second_reviewer": True,
        "terminate_reason": "death",
        "effective_on": "2026-11-01",
    }
    answer = ReviewDecisionOut.model_validate(proposed)
    assert answer.model_dump(mode="json", exclude_unset=True) == proposed
    assert "receipt" not in answer.model_dump(exclude_unset=True)


def test_a_report_route_declares_its_json_model_and_its_files(
    sqlite_url: str, tmp_path: Path
) -> None:
    from backend.app import create_app

    spec = create_app(make_settings(sqlite_url, tmp_path)).openapi()
    for path in (
        "/api/v1/reports/monthly-statement/{run_id}",
        "/api/v1/reports/fund/{year}",
        "/api/v1/reports/coverage/{year}",
        "/api/v1/reports/publicity/{year}",
        "/api/v1/reports/certification",
    ):
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/ReportOut"}
        assert set(content) == {
            "application/json",
            "text/csv",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/pdf",
            "image/png",
        }, path
