"""Integer fen arithmetic with half-up rounding, exactly where DOMAIN.md says "round"."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


def round_half_up(value: Fraction | Decimal | int) -> int:
    """Round a non-negative or negative exact value to the nearest integer, halves away from zero."""
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    # exact: floor(|x| + 1/2) with integers only
    sign = -1 if value < 0 else 1
    num, den = abs(value.numerator), value.denominator
    return sign * ((2 * num + den) // (2 * den))


def mul_rate(amount_fen: int, rate: Decimal) -> int:
    """round(amount x rate) in fen, exact for any rate given as a decimal string."""
    return round_half_up(Fraction(amount_fen) * Fraction(rate))


def div_round(numerator: int, denominator: int) -> int:
    return round_half_up(Fraction(numerator, denominator))


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
