"""Every problem code the backend can answer is documented in docs/problem-codes.md, and the
codes the clients switch on are real ones."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "problem-codes.md"
# what raises a problem with a code: the domain errors, field_error, problems.problem
RAISERS = {
    "DomainError",
    "InvalidInput",
    "RuleRefused",
    "NotFound",
    "Conflict",
    "Forbidden",
    "Unauthorized",
    "TooManyRequests",
    "TooLarge",
    "field_error",
    "problem",
}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _strings(node: ast.expr | None) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    return set()


def codes_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in RAISERS:
            for kw in node.keywords:
                if kw.arg == "code":
                    found |= _strings(kw.value)
            if _name(node.func) == "field_error" and len(node.args) >= 3:
                found |= _strings(node.args[2])
        elif isinstance(node, ast.Assign):
            targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
            if targets & {"code", "CODE"}:
                found |= _strings(node.value)
        elif isinstance(node, ast.Dict):
            pairs = {
                k.value: v for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant)
            }  # fmt: skip
            if "code" in pairs and "status" in pairs:  # a problem body written by hand
                found |= _strings(pairs["code"])
        elif (
            isinstance(node, ast.Raise)
            and isinstance(node.exc, ast.Call)
            and _name(node.exc.func) == "PydanticCustomError"
            and node.exc.args
        ):
            found |= _strings(node.exc.args[0])
    return found


def backend_codes() -> set[str]:
    from backend.api import problems

    found = set(problems.CODES.values()) | set(problems.OWN_VALIDATION_CODES)
    for path in (ROOT / "backend").rglob("*.py"):
        found |= codes_in(ast.parse(path.read_text(encoding="utf-8")))
    return found


def documented_codes() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(encoding="utf-8"), re.M))


def test_the_finder_sees_each_way_a_code_is_given() -> None:
    source = """
class Locked(Conflict):
    code = "a_class_code"
raise Forbidden("x", code="a_keyword_code")
raise field_error("f", "m", "a_field_code")
body = {"status": 413, "code": "a_body_code"}
raise PydanticCustomError("a_validation_code", "m")
"""
    assert codes_in(ast.parse(source)) == {
        "a_class_code",
        "a_keyword_code",
        "a_field_code",
        "a_body_code",
        "a_validation_code",
    }


def test_every_backend_code_is_documented() -> None:
    missing = backend_codes() - documented_codes()
    assert missing == set(), f"document these in docs/problem-codes.md: {sorted(missing)}"


def test_the_documented_codes_exist() -> None:
    assert documented_codes() - backend_codes() == set()


def test_the_kiosk_switches_only_on_real_codes() -> None:
    from kiosk_app.backend import REASON_FOR_CODE

    assert set(REASON_FOR_CODE) <= backend_codes()
