"""Every JSON route of the API declares what it answers: a response model in the OpenAPI.

A declared schema is a named model (a `$ref`) or a list of one; a bare `{}` or a free-form
object (`dict`) is no declaration. The routes still answering untyped dicts are listed in
UNTYPED_YET: the list may only shrink (a listed route that gains a model fails the test
until it is taken off), and a new route without a model fails at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.backend.conftest import make_settings

# left from issue 19 (services that still return dicts): none now; a route gaining a model
# while listed, or a new route without one, fails
UNTYPED_YET: set[str] = set()


def declared(schema: dict[str, Any] | None) -> bool:
    if not schema:
        return False
    if "$ref" in schema:
        return True
    return schema.get("type") == "array" and "$ref" in schema.get("items", {})


def json_routes_without_schema(spec: dict[str, Any]) -> set[str]:
    missing = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                json_answer = answer.get("content", {}).get("application/json")
                if (
                    status.startswith("2")
                    and json_answer is not None
                    and not declared(json_answer.get("schema"))
                ):
                    missing.add(f"{method.upper()} {path} {status}")
    return missing


def test_declared_tells_a_model_from_a_dict() -> None:
    assert declared({"$ref": "#/components/schemas/AccountOut"})
    assert declared({"type": "array", "items": {"$ref": "#/components/schemas/X"}})
    assert not declared({})
    assert not declared({"type": "object", "additionalProperties": True})


def test_every_json_route_declares_a_response_schema(sqlite_url: str, tmp_path: Path) -> None:
    from backend.app import create_app

    missing = json_routes_without_schema(create_app(make_settings(sqlite_url, tmp_path)).openapi())
    assert missing - UNTYPED_YET == set(), "a new route without a response model"
    assert UNTYPED_YET - missing == set(), "typed now: take it off UNTYPED_YET"


def test_the_device_routes_are_all_typed() -> None:
    """What the kiosk and the field app call (client/http.py) is never on the list."""
    device_routes = (
        "/kiosk/",
        "/challenges",
        "/certifications ",
        "/field/",
        "/account",
        "/payments ",  # the kiosk's GET /persons/{id}/payments, not /payments/reissues
    )
    assert not [r for r in UNTYPED_YET if any(p in r for p in device_routes)]
