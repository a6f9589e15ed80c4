"""`hardware` stands alone: the kiosk, the field app and tools may use it without the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import hardware

OURS = {"backend", "biometrics", "kiosk_app", "field_app", "nongbao", "kivy"}


def test_hardware_imports_nothing_else_of_ours() -> None:
    offenders = []
    for path in Path(hardware.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in OURS]
    assert offenders == []
