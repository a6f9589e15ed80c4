"""What a card reader returns, whichever card it read.

Both the social security card (`source="ssc"`) and the resident ID card
(`source="idcard"`) end up as a `CardData`; fields a card does not carry stay `None`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

CardSource = Literal["ssc", "idcard"]

# GB/T 2261.1 sex codes, as both cards store them.
SEX_CODES: dict[str, str] = {"0": "未知", "1": "男", "2": "女", "9": "未说明"}

# GB 3304 ethnicity codes (two digits), as both cards store them.
ETHNICITY_CODES: dict[str, str] = {
    code: name
    for number, name in enumerate(
        [
            "汉",
            "蒙古",
            "回",
            "藏",
            "维吾尔",
            "苗",
            "彝",
            "壮",
            "布依",
            "朝鲜",
            "满",
            "侗",
            "瑶",
            "白",
            "土家",
            "哈尼",
            "哈萨克",
            "傣",
            "黎",
            "傈僳",
            "佤",
            "畲",
            "高山",
            "拉祜",
            "水",
            "东乡",
            "纳西",
            "景颇",
            "柯尔克孜",
            "土",
            "达斡尔",
            "仫佬",
            "羌",
            "布朗",
            "撒拉",
            "毛南",
            "仡佬",
            "锡伯",
            "阿昌",
            "普米",
            "塔吉克",
            "怒",
            "乌孜别克",
            "俄罗斯",
            "鄂温克",
            "德昂",
            "保安",
            "裕固",
            "京",
            "塔塔尔",
            "独龙",
            "鄂伦春",
            "赫哲",
            "门巴",
            "珞巴",
            "基诺",
        ],
        start=1,
    )
    for code in [f"{number:02d}"]
} | {"97": "其他", "98": "外国血统中国籍人士"}


def sex_name(code: str) -> str:
    """The word for a GB/T 2261.1 sex code; unknown codes are kept visible, not guessed."""
    return SEX_CODES.get(code.strip(), f"未知({code.strip()})")


def ethnicity_name(code: str) -> str:
    """The word for a GB 3304 ethnicity code ("1" and "01" are the same code)."""
    key = code.strip().zfill(2)
    return ETHNICITY_CODES.get(key, f"未知({code.strip()})")


def mask_id_number(id_number: str) -> str:
    """`110101********1234`: enough for a technician to recognise a card, not to copy it."""
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


@dataclass(frozen=True)
class CardData:
    """One card's holder and card data, whichever reader produced it."""

    source: CardSource
    id_number: str
    name: str
    sex: str | None = None
    ethnicity: str | None = None
    birth_date: date | None = None
    # social security card only
    card_number: str | None = None
    issued_on: date | None = None
    expires_on: date | None = None
    spec_version: str | None = None
    # resident ID card only
    address: str | None = None
    authority: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None  # None with valid_from set means "长期" (no expiry)
    photo_bytes: bytes | None = None  # the ID card's photo block, still encrypted

    def to_json(self, *, masked: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; the ID number is masked and the photo left out unless asked."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, bytes):
                value = len(value)
            out[field.name] = value
        if masked:
            out["id_number"] = mask_id_number(self.id_number)
        return out


CardEventKind = Literal["inserted", "removed"]


@dataclass(frozen=True)
class CardEvent:
    """A card arrived in or left a reader."""

    kind: CardEventKind
    reader: str
    atr: bytes | None = None


CardEventCallback = Callable[[CardEvent], None]


class CardReader(Protocol):
    """What the kiosk and the field app need from any card reader."""

    name: str

    def card_present(self) -> bool: ...

    def read(self, timeout: float | None = None) -> CardData:
        """Waits up to `timeout` seconds (None: forever) for a card, then reads it."""
        ...

    def watch(self, callback: CardEventCallback) -> CardWatcher:
        """Calls `callback` (from another thread) on every insert and removal."""
        ...

    def close(self) -> None: ...


class CardWatcher(Protocol):
    def stop(self) -> None: ...


class PollingCardWatcher:
    """Turns a reader's `card_present()` into events, for readers that have no events."""

    def __init__(
        self,
        reader_name: str,
        is_present: Callable[[], bool],
        callback: CardEventCallback,
        interval: float = 0.3,
    ) -> None:
        self._reader_name = reader_name
        self._is_present = is_present
        self._callback = callback
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="card-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        present = False
        while not self._stopped.is_set():
            try:
                now = self._is_present()
            except Exception:  # a reader unplugged: report the card gone, keep watching
                now = False
            if now != present:
                present = now
                self._callback(CardEvent("inserted" if now else "removed", self._reader_name))
            self._stopped.wait(self._interval)

    def stop(self) -> None:
        self._stopped.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
