"""The social security card layout and the in-process simulated reader."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.cards import CardData, CardEvent, ethnicity_name, mask_id_number, sex_name
from hardware.errors import (
    CardDataError,
    CardError,
    CardFileNotFoundError,
    CardRemovedError,
    NoCardError,
)
from hardware.ssc_applet import SocialSecurityCardApplet, SscFixture
from hardware.ssc_layout import EF06_ELEMENTS, encode_record, parse_bcd_date, parse_record
from hardware.sscard import DEFAULT_FIXTURE, SimulatedSocialSecurityCardReader, exchange

NAME = next(e for e in EF06_ELEMENTS if e.name == "name")


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), max_size=7))
def test_names_survive_the_card_encoding(name: str) -> None:
    assert parse_record(NAME, encode_record(NAME, name)) == name


def test_a_record_is_tag_length_value() -> None:
    assert encode_record(NAME, "张三") == bytes([0x09, 4]) + "张三".encode("gbk")
    with pytest.raises(ValueError, match="does not start with its tag"):
        parse_record(NAME, bytes([0x08, 4]) + "张三".encode("gbk"))
    with pytest.raises(ValueError, match="claims 9 bytes"):
        parse_record(NAME, bytes([0x09, 9]) + "张三".encode("gbk"))


def test_bcd_dates() -> None:
    assert parse_bcd_date("19500302") == date(1950, 3, 2)
    assert parse_bcd_date("00000000") is None
    assert parse_bcd_date("19501302") is None


def test_codes_become_words() -> None:
    assert (sex_name("1"), sex_name("2"), sex_name("7")) == ("男", "女", "未知(7)")
    assert (ethnicity_name("1"), ethnicity_name("05"), ethnicity_name("56")) == (
        "汉",
        "维吾尔",
        "基诺",
    )
    assert mask_id_number("130123195003020026") == "130123********0026"


def test_the_card_tells_the_reader_its_record_length() -> None:
    applet = SocialSecurityCardApplet(SscFixture.load(DEFAULT_FIXTURE))

    class Transport:  # the applet itself, seen through the ISO 7816 status words
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            self.sent.append(apdu)
            response = applet.process(apdu)
            return response[:-2], int.from_bytes(response[-2:], "big")

    transport = Transport()
    exchange(
        transport,
        b"\x00\xa4\x04\x00\x0f" + bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF"),
        "select",
    )
    exchange(transport, b"\x00\xa4\x02\x00\x02\xef\x06", "select EF06")
    record = exchange(transport, b"\x00\xb2\x09\x04\x02", "read name")  # Le too short: 6C08
    assert record == bytes([0x09, 6]) + "张秀英".encode("gbk")
    assert transport.sent[-1] == b"\x00\xb2\x09\x04\x08"


def test_the_simulated_reader_reads_its_demo_card() -> None:
    reader = SimulatedSocialSecurityCardReader(inserted=True)
    card = reader.read(timeout=1)
    assert card == CardData(
        source="ssc",
        id_number="130123195003020026",
        name="张秀英",
        sex="女",
        ethnicity="汉",
        birth_date=date(1950, 3, 2),
        card_number="A00012345",
        issued_on=date(2019, 5, 20),
        expires_on=date(2029, 5, 20),
        spec_version="3.00",
    )


def test_the_simulated_reader_reports_inserts_and_removals() -> None:
    reader = SimulatedSocialSecurityCardReader()
    events: list[CardEvent] = []
    handle = reader.watch(events.append)
    with pytest.raises(NoCardError):
        reader.read(timeout=0.01)
    reader.insert()
    reader.remove()
    handle.stop()
    reader.insert()
    assert [e.kind for e in events] == ["inserted", "removed"]
    assert reader.read(timeout=1).name == "张秀英"


def test_the_simulated_card_can_leave_mid_read_or_lack_a_file() -> None:
    base = SscFixture.load(DEFAULT_FIXTURE)
    leaving = SscFixture(dict(base.values), remove_after_apdus=3)
    reader = SimulatedSocialSecurityCardReader(leaving, inserted=True)
    with pytest.raises(CardRemovedError):
        reader.read(timeout=1)
    assert not reader.card_present()

    reader.insert(SscFixture(dict(base.values), missing_files={0xEF05}))
    with pytest.raises(CardFileNotFoundError, match="EF05"):
        reader.read(timeout=1)


def test_a_blank_card_is_refused() -> None:
    values = SscFixture.load(DEFAULT_FIXTURE).values | {"name": ""}
    reader = SimulatedSocialSecurityCardReader(SscFixture(values), inserted=True)
    with pytest.raises(CardDataError, match="no ID number or name"):
        reader.read(timeout=1)


def test_a_card_without_the_ssse_application_is_named() -> None:
    fixture = SscFixture.load(DEFAULT_FIXTURE)
    fixture.aid = bytes.fromhex("A000000333010101")  # a bank card put in by mistake
    reader = SimulatedSocialSecurityCardReader(fixture, inserted=True)
    with pytest.raises(CardFileNotFoundError, match="is it a social security card"):
        reader.read(timeout=1)


@pytest.mark.parametrize(
    ("apdu", "error", "message"),
    [
        (b"\x00\xca\x00\x00\x00", CardError, "does not support this instruction.*6D00"),
        (b"\x80\xb2\x01\x04\x00", CardError, "does not support this command class.*6E00"),
        (b"\x00\xb2\x09\x04\x00", CardError, "conditions of use not satisfied.*6985"),
        (b"\x00\xa4\x02\x00\x02\xef\x09", CardFileNotFoundError, "file not found.*6A82"),
    ],
)
def test_status_words_become_clear_errors(
    apdu: bytes, error: type[Exception], message: str
) -> None:
    applet = SocialSecurityCardApplet(SscFixture.load(DEFAULT_FIXTURE))
    applet.process(b"\x00\xa4\x04\x00\x0f" + bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF"))

    class Transport:
        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            response = applet.process(apdu)
            return response[:-2], int.from_bytes(response[-2:], "big")

    with pytest.raises(error, match=message):
        exchange(Transport(), apdu, "test")
