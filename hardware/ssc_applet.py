"""The card side of a social security card: turns a fixture into a card that answers APDUs.

Shared by the virtual card on the PC/SC stack (`hardware.vcard`) and the in-process
simulator (`hardware.sscard.SimulatedSocialSecurityCardReader`), so both answer exactly as
the layout in `hardware.ssc_layout` says.

A fixture is JSON::

    {"spec_version": "3.00", "card_number": "A00012345", "issued_on": "2019-05-20",
     "expires_on": "2029-05-20", "id_number": "...", "name": "张秀英", "sex": "2",
     "ethnicity": "01", "birth_date": "1950-03-02",
     "missing_files": ["EF06"],      # optional: answer 6A82 when it is selected
     "protected_files": ["EF06"],    # optional: answer 6982 to READ RECORD (needs PSAM)
     "remove_after_apdus": 4,        # optional: the card leaves after that many APDUs
     "aid": "A000000333010101"}      # optional: not a social security card
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.ssc_layout import EF05, EF06, FILE_ELEMENTS, SSSE_AID, encode_record

SW_OK = b"\x90\x00"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_RECORD_NOT_FOUND = b"\x6a\x83"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"  # security status not satisfied: the PSAM has not authenticated
SW_CONDITIONS = b"\x69\x85"  # conditions of use not satisfied: no file selected
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"

# T=1 only, historical bytes "SSSE"; the last byte is TCK (XOR of T0..last historical byte)
_HISTORICAL = b"SSSE"
_ATR_BODY = bytes([0x80 | len(_HISTORICAL), 0x01]) + _HISTORICAL


def _tck(body: bytes) -> int:
    value = 0
    for byte in body:
        value ^= byte
    return value


DEFAULT_ATR = b"\x3b" + _ATR_BODY + bytes([_tck(_ATR_BODY)])
FILE_IDS = {"EF05": EF05, "EF06": EF06}


@dataclass
class SscFixture:
    """One card's contents plus the faults it should show."""

    values: dict[str, str]
    missing_files: set[int] = field(default_factory=set)
    protected_files: set[int] = field(default_factory=set)
    remove_after_apdus: int | None = None
    atr: bytes = DEFAULT_ATR
    aid: bytes = SSSE_AID  # another AID makes "a bank card put in by mistake"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SscFixture:
        data = dict(data)
        missing = {FILE_IDS[name.upper()] for name in data.pop("missing_files", [])}
        protected = {FILE_IDS[name.upper()] for name in data.pop("protected_files", [])}
        remove_after = data.pop("remove_after_apdus", None)
        atr = bytes.fromhex(data.pop("atr")) if "atr" in data else DEFAULT_ATR
        aid = bytes.fromhex(data.pop("aid")) if "aid" in data else SSSE_AID
        data.pop("source", None)
        values = {key: str(value) for key, value in data.items()}
        return cls(values, missing, protected, remove_after, atr, aid)

    @classmethod
    def load(cls, path: str | Path) -> SscFixture:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


class SocialSecurityCardApplet:
    """Answers SELECT and READ RECORD like the SSSE application of a real card."""

    def __init__(self, fixture: SscFixture) -> None:
        self.fixture = fixture
        self.records = self._build_records(fixture)
        self.app_selected = False
        self.current_file: int | None = None

    @staticmethod
    def _build_records(fixture: SscFixture) -> dict[int, dict[int, bytes]]:
        records: dict[int, dict[int, bytes]] = {}
        for file_id, elements in FILE_ELEMENTS.items():
            records[file_id] = {
                element.tag: encode_record(element, fixture.values[element.name])
                for element in elements
                if element.name in fixture.values
            }
        return records

    def reset(self) -> None:
        self.app_selected = False
        self.current_file = None

    def process(self, apdu: bytes) -> bytes:
        """One command APDU in, one response APDU (data + SW1 SW2) out."""
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        if cla != 0x00:
            return SW_CLA_NOT_SUPPORTED
        if ins == 0xA4:
            return self._select(p1, apdu[5 : 5 + apdu[4]] if len(apdu) > 4 else b"")
        if ins == 0xB2:
            return self._read_record(p1, p2, apdu[4] if len(apdu) == 5 else 0)
        return SW_INS_NOT_SUPPORTED

    def _select(self, p1: int, data: bytes) -> bytes:
        if p1 == 0x04:  # by application name
            self.app_selected = data == self.fixture.aid
            self.current_file = None
            return SW_OK if self.app_selected else SW_FILE_NOT_FOUND
        if p1 in (0x00, 0x02) and len(data) == 2 and self.app_selected:
            file_id = int.from_bytes(data, "big")
            if file_id not in self.records or file_id in self.fixture.missing_files:
                return SW_FILE_NOT_FOUND
            self.current_file = file_id
            return SW_OK
        return SW_FILE_NOT_FOUND if p1 in (0x00, 0x02) else SW_WRONG_P1P2

    def _read_record(self, record: int, p2: int, le: int) -> bytes:
        file_id = self._file_for_p2(p2)
        if file_id is None:
            return SW_CONDITIONS if p2 == 0x04 else SW_WRONG_P1P2
        if file_id in self.fixture.missing_files:
            return SW_FILE_NOT_FOUND
        if file_id in self.fixture.protected_files:
            return SW_SECURITY
        content = self.records[file_id].get(record)
        if content is None:
            return SW_RECORD_NOT_FOUND
        if 0 < le < len(content):  # ISO 7816-4: tell the reader the right Le
            return bytes([0x6C, len(content)])
        return content + SW_OK

    def _file_for_p2(self, p2: int) -> int | None:
        if p2 == 0x04:
            return self.current_file
        sfi = p2 >> 3  # P2 = SFI << 3 | 4 reads a file without selecting it
        if p2 & 0x07 == 0x04 and self.app_selected and (0xEF00 | sfi) in self.records:
            return 0xEF00 | sfi
        return None
