"""The social security card reader through the real PC/SC stack: pcscd, vpcd, pyscard.

The card is `python -m hardware.vcard`, a separate process that vpcd sees as a card.
"""

from __future__ import annotations

import queue
from datetime import date

import pytest

from hardware.cards import CardEvent
from hardware.errors import (
    CardFileNotFoundError,
    CardRemovedError,
    CardSecurityError,
    DeviceNotFoundError,
    NoCardError,
)
from hardware.sscard import PcscCardWatcher, PcscSocialSecurityCardReader, _Pcsc

from .conftest import GUARD

CARD = {
    "spec_version": "3.00",
    "card_type": "3",
    "card_number": "A00077321",
    "issued_on": "2020-09-01",
    "expires_on": "2030-09-01",
    "id_number": "13012319520709001X",
    "name": "欧阳𠮷英",  # a GB 18030 four-byte character: names are not all GBK
    "name_extension": "",
    "sex": "2",
    "ethnicity": "03",
    "birth_date": "1952-07-09",
}


def test_the_virtual_reader_is_listed(pcscd: list[str]) -> None:
    assert "Virtual PCD 00 00" in PcscSocialSecurityCardReader.list_readers()


def test_a_card_is_read_exactly_and_its_insert_and_removal_are_seen(virtual_card) -> None:
    events: queue.Queue[CardEvent] = queue.Queue()
    watcher = PcscCardWatcher(events.put, "Virtual PCD 00 00")
    try:
        card_process = virtual_card(CARD)
        assert events.get(timeout=GUARD) == CardEvent("inserted", "Virtual PCD 00 00")

        card = PcscSocialSecurityCardReader("Virtual PCD 00 00").read(timeout=GUARD)

        assert card.id_number == "13012319520709001X"
        assert card.name == "欧阳𠮷英"
        assert (card.sex, card.ethnicity, card.birth_date) == ("女", "回", date(1952, 7, 9))
        assert (card.card_number, card.spec_version) == ("A00077321", "3.00")
        assert (card.issued_on, card.expires_on) == (date(2020, 9, 1), date(2030, 9, 1))
        card_process.terminate()
        assert events.get(timeout=GUARD) == CardEvent("removed", "Virtual PCD 00 00")
    finally:
        watcher.stop()


def test_a_second_generation_card_without_name_extension(virtual_card) -> None:
    virtual_card(CARD | {"spec_version": "2.00", "name": "李桂兰"} | {"name_extension": "x"})
    card = PcscSocialSecurityCardReader("Virtual PCD 00 00").read(timeout=GUARD)
    # a 2.00 card's reader never asks for record 4E, whatever the card holds
    assert (card.name, card.spec_version) == ("李桂兰", "2.00")


def test_removal_during_the_reading_is_a_clear_error(virtual_card) -> None:
    # SELECT SSSE, SELECT EF05, 4 records of EF05 read; the card leaves at the 7th APDU
    process = virtual_card(CARD, "--remove-after", "6")
    reader = PcscSocialSecurityCardReader("Virtual PCD 00 00")
    with pytest.raises(CardRemovedError, match="keep it in the reader"):
        reader.read(timeout=GUARD)
    assert process.wait(timeout=GUARD) == 0
    assert "removed after 6 APDUs" in (process.stdout.read() if process.stdout else "")


def test_a_card_without_the_holder_file_is_a_clear_error(virtual_card) -> None:
    virtual_card(CARD, "--missing-file", "EF06")
    reader = PcscSocialSecurityCardReader("Virtual PCD 00 00")
    with pytest.raises(CardFileNotFoundError, match=r"EF06 \(card holder\): file not found.*6A82"):
        reader.read(timeout=GUARD)


def test_a_card_demanding_terminal_authentication_is_a_clear_error(virtual_card) -> None:
    virtual_card(CARD, "--protected-file", "EF06")
    reader = PcscSocialSecurityCardReader("Virtual PCD 00 00")
    with pytest.raises(CardSecurityError, match=r"read id_number: .*\(PSAM\).*6982"):
        reader.read(timeout=GUARD)


def test_no_card_in_the_reader(virtual_card) -> None:
    with pytest.raises(NoCardError):
        PcscSocialSecurityCardReader("Virtual PCD 00 00").read(timeout=0.3)


def test_a_reader_that_is_not_connected(pcscd: list[str]) -> None:
    with pytest.raises(DeviceNotFoundError, match="no card reader matching 'ACS ACR39U'"):
        PcscSocialSecurityCardReader("ACS ACR39U").read(timeout=0.1)


def test_pcscd_not_running_is_explained() -> None:
    # the PC/SC error code pcscd's absence produces, as libpcsclite returns it
    error = _Pcsc().error(0x8010001D, "list card readers")
    assert isinstance(error, DeviceNotFoundError)
    assert "pcscd) is not running" in str(error)
