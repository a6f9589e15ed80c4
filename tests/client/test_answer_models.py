"""The typed answers of the money-out and outreach routes: the files are declared as files,
and the notice plan's model names exactly the notice kinds the policy knows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.answers_notices import NoticePlanOut
from backend.policy.outreach import TEMPLATE_FIELDS
from tests.backend.conftest import make_settings

FILES = {
    "/api/v1/disbursements/{disbursement_id}/bank-file": {"text/csv", "text/plain"},
    "/api/v1/transfer-documents/{document_id}/pdf": {"application/pdf"},
}


def test_the_file_routes_declare_their_media_types_and_no_json(
    sqlite_url: str, tmp_path: Path
) -> None:
    from backend.app import create_app

    spec = create_app(make_settings(sqlite_url, tmp_path)).openapi()
    for path, kinds in FILES.items():
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert set(content) == kinds, path


def test_the_notice_plan_has_one_count_per_notice_kind() -> None:
    assert list(NoticePlanOut.model_fields) == list(TEMPLATE_FIELDS)
    with pytest.raises(ValidationError):
        NoticePlanOut(**dict.fromkeys([*TEMPLATE_FIELDS, "a_new_kind"], 0))
