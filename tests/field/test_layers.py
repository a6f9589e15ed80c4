"""The field app's modules form no import circle (lazy imports inside functions count too),
and only app.py, cli.py and tour.py touch Kivy: the flow and controller are plain Python."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "field_app"
KIVY_ALLOWED = {"app", "cli", "tour"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "field_app":
                found |= {f"field_app.{a.name}" for a in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    return {
        p.stem: {m.split(".")[1] for m in _imports(p) if m.startswith("field_app.")}
        for p in PACKAGE.glob("*.py")
    }


def test_no_import_circles_in_the_field_app() -> None:
    graph = _graph()
    assert "ports" in graph and "devices" in graph["tour"]
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, " -> ".join((*path, node))
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, (*path, node))
        done.add(node)

    for module in sorted(graph):
        visit(module, ())


def test_only_the_drawing_modules_import_kivy() -> None:
    for p in PACKAGE.glob("*.py"):
        uses_kivy = any(m == "kivy" or m.startswith("kivy.") for m in _imports(p))
        assert not uses_kivy or p.stem in KIVY_ALLOWED, p.name
    assert "flow" not in _graph()["devices"] and "devices" not in _graph()["flow"]
