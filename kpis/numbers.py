"""How many decimals a KPI's numbers show (issue 18, item 8): the pages, the KPI report, its e-mail
and the exports all round through here, so a figure reads the same everywhere."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def _step(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def shown_decimals(value: Decimal, decimals: int) -> int:
    """``decimals`` (``Kpi.decimals``), or two when the value has cents that fewer would hide: a
    week's share of a monthly target of 17 contracts is 3.91, not "4" (which would read as "4 of 4
    = 102 %")."""
    if decimals < 2 and value.quantize(CENT, rounding=ROUND_HALF_UP) != value.quantize(
        _step(decimals), rounding=ROUND_HALF_UP
    ):
        return 2
    return decimals


def rounded(value: Decimal | None, decimals: int) -> Decimal | None:
    """``value`` rounded half up to the decimals it is shown with (``shown_decimals``)."""
    if value is None:
        return None
    return value.quantize(_step(shown_decimals(value, decimals)), rounding=ROUND_HALF_UP)
