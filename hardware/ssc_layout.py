"""The data layout of the Chinese social security card (社会保障卡) that we read.

The card carries the SSSE application (AID "sx1.sh.社会保障" =
`7378312E73682EC9E7BBE1B1A3D5CF`). Inside it, two linear record files hold what a
pension centre needs. Every data element is its own record, the record number equals the
element's tag, and the record's content is one TLV: tag (1 byte), length (1 byte), value.
`READ RECORD` with P1 = tag, P2 = 04 ("record P1 of the current file") returns it.

EF05, card identification (卡识别信息)::

    tag name           bytes  format
    01  card_id          16   b   卡的识别码
    02  card_type         1   an  卡的类别
    03  spec_version      4   an  规范版本, "1.00" / "2.00" / "3.00"
    04  init_org         12   b   初始化机构编号
    05  issued_on         4   cn  发卡日期, BCD YYYYMMDD
    06  expires_on        4   cn  卡有效期, BCD YYYYMMDD
    07  card_number       9   an  卡号

EF06, card holder (持卡人基本信息)::

    tag name           bytes  format
    08  id_number        18   an  社会保障号码 (= resident ID number)
    09  name             30   gbk 姓名, GBK / GB 18030, padded
    4E  name_extension   20   gbk 姓名扩展, third-generation (3.00) cards only
    0A  sex               1   an  性别, GB/T 2261.1 code
    0B  ethnicity         1   cn  民族, GB 3304 code as BCD
    0C  birthplace        3   cn  出生地, region code as BCD
    0D  birth_date        4   cn  出生日期, BCD YYYYMMDD

"an" is ASCII padded with spaces, "cn" is packed BCD (F-padded), "b" is binary.
Values may be shorter than the sizes above; padding (00, 20 or FF) is stripped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
EF05 = 0xEF05
EF06 = 0xEF06
FILE_NAMES = {EF05: "EF05 (card identification)", EF06: "EF06 (card holder)"}

Format = Literal["an", "cn", "b", "gbk"]


@dataclass(frozen=True)
class Element:
    tag: int
    name: str
    size: int
    format: Format
    required: bool = True


EF05_ELEMENTS = (
    Element(0x01, "card_id", 16, "b", required=False),
    Element(0x02, "card_type", 1, "an", required=False),
    Element(0x03, "spec_version", 4, "an"),
    Element(0x04, "init_org", 12, "b", required=False),
    Element(0x05, "issued_on", 4, "cn"),
    Element(0x06, "expires_on", 4, "cn"),
    Element(0x07, "card_number", 9, "an"),
)
EF06_ELEMENTS = (
    Element(0x08, "id_number", 18, "an"),
    Element(0x09, "name", 30, "gbk"),
    Element(0x4E, "name_extension", 20, "gbk", required=False),
    Element(0x0A, "sex", 1, "an"),
    Element(0x0B, "ethnicity", 1, "cn", required=False),
    Element(0x0C, "birthplace", 3, "cn", required=False),
    Element(0x0D, "birth_date", 4, "cn"),
)
FILE_ELEMENTS = {EF05: EF05_ELEMENTS, EF06: EF06_ELEMENTS}
_PADDING = b"\x00\x20\xff"


def encode_value(element: Element, value: str | bytes) -> bytes:
    """A value as the card stores it (used by the simulators and the virtual card)."""
    if element.format == "b":
        raw = value if isinstance(value, bytes) else bytes.fromhex(value)
    elif element.format == "cn":
        digits = str(value).replace("-", "")
        digits += "F" * (len(digits) % 2)
        raw = bytes.fromhex(digits)
    elif element.format == "gbk":
        raw = str(value).encode("gb18030")
    else:
        raw = str(value).encode("ascii")
    if len(raw) > element.size:
        raise ValueError(f"{element.name}: {len(raw)} bytes, at most {element.size} fit")
    return raw


def decode_value(element: Element, raw: bytes) -> str:
    """The text of a stored value; padding stripped, BCD turned back into digits."""
    if element.format == "cn":
        return raw.hex().upper().rstrip("F")
    if element.format == "b":
        return raw.hex().upper()
    raw = raw.rstrip(_PADDING).lstrip(b"\x00")
    # GB 18030 is a superset of GBK and GB2312; a name's rare characters need it
    return raw.decode("gb18030" if element.format == "gbk" else "ascii").strip()


def encode_record(element: Element, value: str | bytes) -> bytes:
    raw = encode_value(element, value)
    return bytes([element.tag, len(raw)]) + raw


def parse_record(element: Element, record: bytes) -> str:
    """Checks a record's TLV header and decodes its value."""
    if len(record) < 2 or record[0] != element.tag:
        raise ValueError(
            f"record {element.tag:02X} does not start with its tag: {record[:2].hex()}"
        )
    length = record[1]
    if length > len(record) - 2 or length > element.size:
        raise ValueError(
            f"record {element.tag:02X} claims {length} bytes, carries {len(record) - 2}"
        )
    return decode_value(element, record[2 : 2 + length])


def parse_bcd_date(digits: str) -> date | None:
    """`19500302` -> date; all-zero or malformed dates (seen on old cards) -> None."""
    if len(digits) != 8 or not digits.isdigit() or digits == "00000000":
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
