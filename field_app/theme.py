"""Colours and sizes of the field app: a phone held in one hand outdoors, used by village
staff and shown to elderly people: big words, big targets (>= 88 dp), strong contrast."""

from __future__ import annotations

from pathlib import Path

# the APK bundles the font next to this file (docs/field.md); a desktop has Debian's fonts-wqy-microhei
_BUNDLED = Path(__file__).with_name("wqy-microhei.ttc")
FONT_PATH = str(_BUNDLED) if _BUNDLED.exists() else "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FONT_NAME = "NongbaoCJK"

TITLE_SP = 32
BODY_SP = 27
BUTTON_SP = 28
ROW_SP = 25
INPUT_SP = 28
SMALL_SP = 22

TARGET_DP = 88
TOP_DP = 96

WHITE = (255, 255, 255)
INK = (26, 26, 26)
PAGE = (250, 250, 247)
BLUE = (13, 71, 161)
BLUE_LIGHT = (225, 234, 246)
BLUE_INK = (13, 60, 130)
GREEN = (27, 94, 32)
GREEN_LIGHT = (220, 237, 200)
AMBER_LIGHT = (255, 236, 179)
AMBER_INK = (102, 60, 0)
RED = (183, 28, 28)
RED_LIGHT = (255, 224, 224)
GREY_LIGHT = (236, 236, 232)

TONES = {
    "info": (BLUE_LIGHT, BLUE_INK),
    "good": (GREEN_LIGHT, GREEN),
    "warn": (AMBER_LIGHT, AMBER_INK),
    "bad": (RED_LIGHT, RED),
}


def rgba(rgb: tuple[int, int, int], alpha: float = 1.0) -> list[float]:
    return [c / 255 for c in rgb] + [alpha]
