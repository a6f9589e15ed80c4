"""PNG charts with matplotlib (Agg, no display), labelled in Chinese with the report font."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from backend.reports.render import CJK_FONT


@cache
def _setup() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(CJK_FONT))
    name = font_manager.FontProperties(fname=str(CJK_FONT)).get_name()
    matplotlib.rcParams["font.family"] = [name, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _png(fig: Any) -> bytes:
    plt = _setup()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def trend(
    years: list[int], counts: dict[str, list[int]], rates: dict[str, list[float | None]], title: str
) -> bytes:
    """Counts as grouped bars (left), rates as lines (right), by year."""
    plt = _setup()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.8 / max(len(counts), 1)
    for i, (label, values) in enumerate(counts.items()):
        left.bar(
            [y + (i - (len(counts) - 1) / 2) * width for y in years],
            values,
            width=width,
            label=label,
        )
    left.set_title("人数 / People")
    left.set_xticks(years)
    left.tick_params(axis="x", rotation=45)
    left.legend(fontsize=8)
    left.yaxis.set_major_locator(_integer_ticks())
    for label, shares in rates.items():
        points = [(y, v * 100) for y, v in zip(years, shares, strict=True) if v is not None]
        if points:
            right.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    right.set_title("比率 / Rates (%)")
    right.set_xticks(years)
    right.tick_params(axis="x", rotation=45)
    right.legend(fontsize=8)
    fig.suptitle(title)
    return _png(fig)


def stacked_bars(
    labels: list[str], series: dict[str, list[int]], colors: dict[str, str], title: str
) -> bytes:
    """Horizontal stacked bars, one per label (village)."""
    plt = _setup()
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.42 * len(labels) + 1.2)))
    left = [0] * len(labels)
    for name, values in series.items():
        ax.barh(labels, values, left=left, label=name, color=colors.get(name))
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("人数 / People")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.legend(
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=max(len(series), 1),
        frameon=False,
    )
    ax.set_title(title)
    return _png(fig)


def share_bars(labels: list[str], shares: list[float | None], title: str) -> bytes:
    """Horizontal bars of a share (0..1) per label, written as a percentage at each bar's end;
    a label without pensioners shows "—"."""
    plt = _setup()
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.42 * len(labels) + 1.2)))
    values = [(v or 0.0) * 100 for v in shares]
    colors = ["#1e88e5"] * (len(labels) - 1) + ["#0d47a1"]
    ax.barh(labels, values, color=colors[: len(labels)])
    for i, v in enumerate(shares):
        ax.text(
            (v or 0.0) * 100 + 1,
            i,
            "—" if v is None else f"{v * 100:.1f}%",
            va="center",
            fontsize=9,
        )
    ax.invert_yaxis()
    ax.set_xlim(0, 110)
    ax.set_xlabel("占领取人数 % / % of pensioners")
    ax.set_title(title)
    return _png(fig)
