"""Colours and sizes of the kiosk screens, after the 2021 aging-friendly app rules
(《移动互联网应用(APP)适老化通用设计规范》): main text >= 30 pt, contrast >= 4.5:1, touch
targets >= 60 x 60 dp. No Kivy here, so the rules can be checked by tests.

Sizes are Kivy `sp`/`dp`; at density 1, 1 sp = 1 px = 0.75 pt, so 30 pt = 40 sp.
"""

from __future__ import annotations

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"  # Debian fonts-wqy-microhei
FONT_NAME = "NongbaoCJK"

PT_PER_SP = 0.75
MIN_TEXT_PT = 30
MIN_TARGET_DP = 60

# text sizes, sp
TITLE_SP = 60
BODY_SP = 56
DETAIL_SP = 44
BUTTON_SP = 48
ROW_SP = 44
BAR_BUTTON_SP = 46
ICON_SP = 110
SIM_SP = 40  # the simulator strip (demo only) still keeps the minimum

# touch targets, dp
BUTTON_H_DP = 130
BUTTON_H_PORTRAIT_DP = 160  # portrait has height to spare: bigger targets
BAR_H_DP = 140
BAR_BUTTON_W_DP = 330
TOP_H_DP = 130
LANG_W_DP = 210

# colours as (r, g, b) 0..255; each (text, background) pair below must reach 4.5:1
WHITE = (255, 255, 255)
INK = (26, 26, 26)
PAGE = (250, 250, 247)  # warm white page
BLUE = (13, 71, 161)  # top bar, primary buttons
BLUE_LIGHT = (225, 234, 246)  # ordinary choice buttons
BLUE_INK = (10, 40, 95)
GREEN = (27, 94, 32)
AMBER = (255, 214, 102)
RED = (183, 28, 28)
GREY_DARK = (55, 71, 79)  # back button
PURPLE = (94, 53, 177)  # help button
DISABLED_BG = (200, 200, 200)
DISABLED_INK = (60, 60, 60)

PAIRS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "page": (INK, PAGE),
    "top_bar": (WHITE, BLUE),
    "primary_button": (WHITE, BLUE),
    "choice_button": (BLUE_INK, BLUE_LIGHT),
    "back_button": (WHITE, GREY_DARK),
    "help_button": (WHITE, PURPLE),
    "disabled_button": (DISABLED_INK, DISABLED_BG),
    "success": (WHITE, GREEN),
    "warning": (INK, AMBER),
    "error": (WHITE, RED),
    "info": (WHITE, BLUE),
    "notice": (INK, AMBER),
    "overlay_card": (INK, WHITE),
}

TONE_BG = {"success": GREEN, "warning": AMBER, "error": RED, "info": BLUE}
TONE_FG = {"success": WHITE, "warning": INK, "error": WHITE, "info": WHITE}


def rgba(c: tuple[int, int, int], a: float = 1.0) -> tuple[float, float, float, float]:
    return (c[0] / 255, c[1] / 255, c[2] / 255, a)


def relative_luminance(c: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in c)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
