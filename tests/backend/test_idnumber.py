from datetime import date

import pytest

from backend import idnumber
from backend.errors import InvalidInput


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_domain_examples_pass_the_check(number: str) -> None:
    assert idnumber.parse(number).number == number


def test_birth_date_and_gender_come_from_the_number() -> None:
    ident = idnumber.parse("11010519491231002X")
    assert ident.birth_date == date(1949, 12, 31)
    assert ident.gender == "female"  # sequence 002 is even
    assert idnumber.parse("440524188001010014").gender == "male"


def test_lower_case_x_and_spaces_are_normalised() -> None:
    assert idnumber.parse(" 11010519491231002x ").number == "11010519491231002X"


def test_wrong_check_character_names_the_right_one() -> None:
    with pytest.raises(InvalidInput) as exc:
        idnumber.parse("110105194912310021")
    assert "should be X" in exc.value.detail
    assert exc.value.errors[0]["field"] == "id_number"


def test_fifteen_digit_number_is_converted_and_kept() -> None:
    ident = idnumber.parse("110105491231002")
    assert ident.number == "11010519491231002X"
    assert ident.old_number == "110105491231002"


@pytest.mark.parametrize(
    "number", ["", "12345", "1101051949123100", "11010519491231002Y", "A1010519491231002X"]
)
def test_malformed_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidInput):
        idnumber.parse(number)


def test_impossible_birth_date_is_refused() -> None:
    first17 = "11010519490230002"  # 30 February
    with pytest.raises(InvalidInput, match="impossible birth date"):
        idnumber.parse(first17 + idnumber.check_char(first17))


def test_masking_hides_birth_date() -> None:
    assert idnumber.mask("11010519491231002X") == "110105********002X"
    assert idnumber.mask_name("欧阳娜娜") == "欧***"


def test_age_in_completed_years() -> None:
    born = date(1966, 5, 10)
    assert idnumber.age_on(born, date(2026, 5, 9)) == 59
    assert idnumber.age_on(born, date(2026, 5, 10)) == 60
