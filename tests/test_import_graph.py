"""The layering, read from the source (AST), so that it cannot drift unnoticed.

- no import circle between the modules of backend/, hardware/, client/ and biometrics/;
- biometrics/ and hardware/ import nothing of ours (they are libraries the apps plug in);
- client/ imports only itself (the apps' side of the wire; the backend may use its pure
  helpers, capture and masking, and nothing else of it);
- the apps (kiosk_app/, field_app/) never import the backend.

Every import counts, also one inside a function or through importlib.import_module("..."),
except those under `if TYPE_CHECKING:` (never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("backend", "biometrics", "client", "field_app", "hardware", "kiosk_app", "nongbao", "tests")
LAYERED = ("backend", "hardware", "client", "biometrics")
BACKEND_MAY_USE_OF_CLIENT = {"client.capture", "client.masking"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    found = {}
    for package in OURS:
        for path in (ROOT / package).rglob("*.py"):
            if ".venv" not in path.parts:
                found[module_name(path)] = path
    return found


MODULES = all_modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk without the bodies of `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def _resolve(name: str) -> str | None:
    """The module of ours `name` is, or is in (a.b.c -> a.b when c is a function)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    resolved = {_resolve(n) for n in names}
    return {m for m in resolved if m is not None and m != module}


def graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    inside = {m for m in MODULES if m.split(".")[0] in packages}
    return {m: {n for n in imports_of(m) if n in inside} for m in sorted(inside)}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def foreign_imports(package: str, allowed: set[str]) -> list[str]:
    """`module -> import` of ours outside `package` and not in `allowed`."""
    bad = []
    for module in sorted(m for m in MODULES if m.split(".")[0] == package):
        for target in sorted(imports_of(module)):
            top = target.split(".")[0]
            if top != package and target not in allowed and top in OURS:
                bad.append(f"{module} -> {target}")
    return bad


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions_and_importlib() -> None:
    # hardware.factory imports the device modules inside its functions
    assert "hardware.printer" in imports_of("hardware.factory")
    assert "hardware.factory" in imports_of("kiosk_app.devices")  # importlib.import_module


def test_no_import_circles_between_the_layered_packages() -> None:
    assert cycles(graph(LAYERED)) == []


def test_biometrics_and_hardware_import_nothing_of_ours() -> None:
    assert foreign_imports("biometrics", set()) == []
    assert foreign_imports("hardware", set()) == []


def test_client_imports_only_itself() -> None:
    assert foreign_imports("client", set()) == []


def test_the_backend_uses_only_the_pure_helpers_of_client_and_no_app() -> None:
    libraries = {m for m in MODULES if m.split(".")[0] in ("biometrics", "hardware", "nongbao")}
    bad = foreign_imports("backend", BACKEND_MAY_USE_OF_CLIENT | libraries)
    assert bad == []


def test_the_apps_never_import_the_backend() -> None:
    for app in ("kiosk_app", "field_app"):
        bad = [b for b in foreign_imports(app, set()) if b.split(" -> ")[1].startswith("backend")]
        assert bad == [], app
