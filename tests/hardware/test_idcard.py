"""The resident ID card reader, through a real pseudo-terminal to the reader simulator."""

from __future__ import annotations

import io
import queue
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.cards import CardEvent
from hardware.errors import DeviceTimeoutError, NoCardError, ProtocolError
from hardware.idcard import (
    FIND_CARD,
    IdCardFixture,
    IdCardReaderSimulator,
    SerialIdCardReader,
    build_text,
    encode_command,
    encode_response,
    parse_response,
    photo_block,
    read_frame,
    split_text,
)

from .conftest import GUARD

FIXTURE = IdCardFixture.from_dict(
    {
        "name": "阿依古丽·买买提",
        "sex": "2",
        "ethnicity": "05",
        "birth_date": "1949-02-28",
        "address": "新疆维吾尔自治区喀什地区疏附县托克扎克镇阿热买里村3组45号",
        "id_number": "65312119490228002x",
        "authority": "疏附县公安局",
        "valid_from": "2015-03-10",
        "valid_to": "长期",
    }
)


@pytest.fixture
def simulator() -> Iterator[IdCardReaderSimulator]:
    sim = IdCardReaderSimulator(FIXTURE)
    yield sim
    sim.close()


@pytest.fixture
def reader(simulator: IdCardReaderSimulator) -> Iterator[SerialIdCardReader]:
    device = SerialIdCardReader(simulator.port, timeout=1.0)
    yield device
    device.close()


def test_the_find_card_frame_is_the_standard_one() -> None:
    assert encode_command(FIND_CARD) == bytes.fromhex("AAAAAA9669000320 0122".replace(" ", ""))


def test_the_text_block_has_the_standard_layout() -> None:
    text = build_text(FIXTURE.values)
    assert len(text) == 256
    assert text[:16] == "阿依古丽·买买提".encode("utf-16-le")
    assert split_text(text)["id_number"] == "65312119490228002x"


def test_a_card_is_read_through_the_serial_line(
    simulator: IdCardReaderSimulator, reader: SerialIdCardReader
) -> None:
    simulator.insert()
    card = reader.read(timeout=GUARD)
    assert card.source == "idcard"
    assert card.name == "阿依古丽·买买提"
    assert card.id_number == "65312119490228002X"
    assert (card.sex, card.ethnicity, card.birth_date) == ("女", "维吾尔", date(1949, 2, 28))
    assert card.address == "新疆维吾尔自治区喀什地区疏附县托克扎克镇阿热买里村3组45号"
    assert card.authority == "疏附县公安局"
    assert (card.valid_from, card.valid_to) == (date(2015, 3, 10), None)
    # the photo stays as the card encrypted it, byte for byte
    assert card.photo_bytes == photo_block("65312119490228002x")
    assert len(card.photo_bytes) == 1024


def test_no_card_on_the_reader(reader: SerialIdCardReader) -> None:
    with pytest.raises(NoCardError):
        reader.read(timeout=0.3)


def test_a_bad_checksum_is_a_protocol_error(simulator, reader) -> None:
    simulator.insert()
    simulator.fault = "bad_checksum"
    with pytest.raises(ProtocolError, match="bad checksum"):
        reader.read(timeout=GUARD)


def test_a_truncated_frame_is_a_protocol_error(simulator, reader) -> None:
    simulator.insert()
    simulator.fault = "truncated"
    with pytest.raises(ProtocolError, match="truncated"):
        reader.read(timeout=GUARD)


def test_a_silent_reader_times_out(simulator, reader) -> None:
    simulator.fault = "silent"
    with pytest.raises(DeviceTimeoutError, match="did not answer"):
        reader.card_present()


def test_the_reader_recovers_after_a_fault(simulator, reader) -> None:
    simulator.insert()
    simulator.fault = "truncated"
    with pytest.raises(ProtocolError):
        reader.card_present()
    simulator.fault = None
    assert reader.read(timeout=GUARD).name == "阿依古丽·买买提"


def test_inserts_and_removals_are_reported(simulator, reader) -> None:
    events: queue.Queue[CardEvent] = queue.Queue()
    watcher = reader.watch(events.put)
    try:
        simulator.insert()
        assert events.get(timeout=GUARD).kind == "inserted"
        simulator.remove()
        assert events.get(timeout=GUARD).kind == "removed"
    finally:
        watcher.stop()


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=255))
def test_frames_round_trip_and_corruption_is_caught(data: bytes, sw3: int) -> None:
    frame = encode_response(sw3, data)
    assert parse_response(read_frame(io.BytesIO(b"\x00\xff" + frame))) == (sw3, data)
    corrupt = frame[:-1] + bytes([frame[-1] ^ 0x01])
    with pytest.raises(ProtocolError, match="bad checksum"):
        read_frame(io.BytesIO(corrupt))
    with pytest.raises(ProtocolError, match="truncated"):
        read_frame(io.BytesIO(frame[:-1]))
