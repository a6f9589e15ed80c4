"""Only the clock modules read the wall clock: every business "today" and "now" is settable.

Read from the source (AST), so that a new `date.today()` anywhere in the product fails here
before it makes a test right only on the day it was written.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("backend", "client", "kiosk_app", "field_app", "nongbao", "biometrics", "hardware")

# (module, attribute) pairs that read the wall clock, called or passed as a function
WALL_CLOCK = {
    ("date", "today"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("time", "time"),
    ("time", "time_ns"),
}

# Files allowed to read the wall clock, and why. Short on purpose.
ALLOWED = {
    "backend/clock.py": "the clock itself",
    "client/clock.py": "the apps' clock itself",
    # biometrics/ and hardware/ depend on nothing of ours, so they cannot import a clock; the
    # times they read are capture stamps of the device (a frame's grab, a scan, a challenge
    # made on the device in tests) or a printed label, never a business date, and the apps
    # pass the product clock wherever a time crosses to the server
    "hardware/camera.py": "a frame's grab stamp (device clock)",
    "hardware/scanner.py": "a scan's stamp (device clock)",
    "hardware/cli.py": "the printer self-test receipt's label",
    "biometrics/liveness.py": "default frame stamp when a caller gives none",
    "biometrics/tracking.py": "default frame stamp when a caller gives none",
    "biometrics/cli.py": "the evaluation report's generation stamp (a log line)",
}


def _wall_clock_reads(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute):
            base = node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id
            base = base.lstrip("_")  # `from datetime import date as _date`
            if (base, node.attr) in WALL_CLOCK:
                found.append((node.lineno, f"{base}.{node.attr}"))
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            for alias in node.names:
                if alias.name in ("time", "time_ns"):
                    found.append((node.lineno, f"from time import {alias.name}"))
    return found


def _product_files() -> list[Path]:
    return sorted(p for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py"))


def test_the_scan_sees_the_product() -> None:
    files = _product_files()
    assert len(files) > 100
    sample = ast.parse("from datetime import date\nx = date.today()\ny = dt.datetime.now()\n")
    assert _wall_clock_reads(sample) == [(2, "date.today"), (3, "datetime.now")]
    default = ast.parse("import time\ndef f(clock=time.time): ...\nfrom time import time\n")
    assert sorted(_wall_clock_reads(default)) == [(2, "time.time"), (3, "from time import time")]
    nested = ast.parse("import datetime\nz = datetime.datetime.now(datetime.UTC)\n")
    assert _wall_clock_reads(nested) == [(2, "datetime.now")]


def test_no_product_code_reads_the_wall_clock() -> None:
    offenders = {}
    for path in _product_files():
        rel = str(path.relative_to(ROOT))
        reads = _wall_clock_reads(ast.parse(path.read_text(), filename=rel))
        if reads and rel not in ALLOWED:
            offenders[rel] = reads
    assert not offenders, (
        f"these read the wall clock: {offenders}; use backend.clock (client.clock in the apps)"
    )


def test_the_allow_list_has_no_stale_entries() -> None:
    for rel in ALLOWED:
        path = ROOT / rel
        assert path.exists() and _wall_clock_reads(ast.parse(path.read_text())), rel
