"""The test run's coverage in a few lines: the total, each product package, each money module.

Reads the JSON report that `scripts/test.sh` asks pytest-cov for. With `--money-fail-under N`
it exits 1 when a money module (DOMAIN.md's contributions, interest, awards, payroll,
settlement and the ledger) covers fewer than N% of its branches: `make test` runs the whole
suite and enforces 95. A run of a few test files only prints (its figures mean little).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

MONEY_MODULES = (
    "backend/services/contributions.py",
    "backend/services/interest.py",
    "backend/services/awards.py",
    "backend/services/payroll.py",
    "backend/services/settlement.py",
    "backend/ledger.py",
)


@dataclass
class Figures:
    statements: int = 0
    covered_statements: int = 0
    branches: int = 0
    covered_branches: int = 0

    def add(self, summary: dict[str, int]) -> None:
        self.statements += summary["num_statements"]
        self.covered_statements += summary["covered_lines"]
        self.branches += summary.get("num_branches", 0)
        self.covered_branches += summary.get("covered_branches", 0)

    @property
    def branch_percent(self) -> float:
        return 100.0 * self.covered_branches / self.branches if self.branches else 100.0

    @property
    def line_percent(self) -> float:
        return 100.0 * self.covered_statements / self.statements if self.statements else 100.0

    @property
    def combined_percent(self) -> float:
        """coverage.py's own figure: statements and branches together."""
        whole = self.statements + self.branches
        done = self.covered_statements + self.covered_branches
        return 100.0 * done / whole if whole else 100.0


def summarise(report: dict[str, object]) -> tuple[Figures, dict[str, Figures], dict[str, Figures]]:
    files: dict[str, dict[str, dict[str, int]]] = report["files"]  # type: ignore[assignment]
    total = Figures()
    packages: dict[str, Figures] = {}
    money: dict[str, Figures] = {}
    for path, data in files.items():
        summary = data["summary"]
        total.add(summary)
        packages.setdefault(path.split("/")[0], Figures()).add(summary)
        if path in MONEY_MODULES:
            money.setdefault(path, Figures()).add(summary)
    return total, packages, money


def row(name: str, f: Figures) -> str:
    return (
        f"{name:<38} {f.combined_percent:6.1f}%  lines {f.line_percent:5.1f}%  "
        f"branches {f.branch_percent:5.1f}% ({f.covered_branches}/{f.branches})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path, help="coverage JSON report")
    parser.add_argument("--money-fail-under", type=float, default=None, metavar="PERCENT")
    args = parser.parse_args(argv)
    if not args.report.exists():
        print(f"coverage: no report at {args.report}", file=sys.stderr)
        return 1 if args.money_fail_under is not None else 0
    total, packages, money = summarise(json.loads(args.report.read_text()))
    print("coverage (statements and branches; branch coverage on):")
    print(row("TOTAL", total))
    for name in sorted(packages):
        print(row(f"  {name}/", packages[name]))
    print("money modules (branches):")
    low = []
    for path in MONEY_MODULES:
        f = money.get(path)
        if f is None:
            print(f"  {path:<36} not measured")
            low.append(f"{path} not measured")
            continue
        print(row(f"  {path}", f))
        if f.branch_percent < (args.money_fail_under or 0):
            low.append(f"{path} {f.branch_percent:.1f}%")
    if low and args.money_fail_under is not None:
        print(
            f"coverage: money modules below {args.money_fail_under:g}% of branches: "
            + ", ".join(low),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
