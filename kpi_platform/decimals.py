"""Amounts with at most two decimal places (values, ratios, targets), read the same way everywhere."""

from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")


def parse_cents(value, *, maximum: Decimal, positive: bool = False) -> Decimal | None:
    """``value`` (a number or its text) as a Decimal with two places, or None when it is not a
    finite number ≥ 0 (> 0 with ``positive``), at most ``maximum``, with at most two decimals."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number < 0 or (positive and number == 0) or number > maximum:
        return None
    if number != number.quantize(CENT):
        return None
    return number.quantize(CENT)
